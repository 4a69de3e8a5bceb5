/** Findings for one parsed target: exposition problems, catalog coverage, stale last-success, series counts, id-like labels. */
import {
  type FamilyDef,
  type FamilyDomain,
  familiesOf,
  idLikeLabel,
  ingestRejected,
  instrumentationErrors,
  seriesOverflow,
  statsdDatagramsDropped,
} from '../catalog/index.js';
import type { Format } from '../exposition/render.js';
import type { ParsedExposition, ParsedFamily } from '../exposition/parse.js';
import { familiesAtStart } from '../meter/start.js';
import type { CheckSettings } from './settings.js';
import { formatDuration } from '../shared/units.js';

/** error and warning make the exit code 1; a note is information only. */
export type Severity = 'error' | 'warning' | 'note';

export interface Finding {
  severity: Severity;
  code: string;
  family?: string;
  label?: string;
  /** The exposition line, for problems found while parsing. */
  line?: number;
  message: string;
}

export interface FamilySeries {
  family: string;
  series: number;
}

/** The domains whose presence names a target's kind; `self` and `probe` families are not a kind of worker. */
export type TargetKind = Extract<FamilyDomain, 'scraper' | 'pipeline' | 'http' | 'sidecar'>;
const kindDomains: readonly TargetKind[] = ['scraper', 'pipeline', 'http', 'sidecar'];

export interface Analysis {
  format: Format;
  families: number;
  series: number;
  kinds: TargetKind[];
  top: FamilySeries[];
  findings: Finding[];
}

/** Labels whose values are bounded by construction (bucket bounds and quantiles). */
const structuralLabels = new Set(['le', 'quantile']);

/**
 * Value shapes that grow without bound, checked in this order (a Unix time is also a long number). A URL with a
 * path is also the shape of an endpoint an exporter is configured with (Prometheus's `alertmanager` and remote-write
 * `url` labels): one such value says nothing, and values that differ only in their host are one endpoint per host.
 */
const idShapes: readonly { what: string; re: RegExp; endpoint?: true }[] = [
  { what: 'UUIDs', re: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i },
  { what: 'e-mail addresses', re: /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i },
  { what: 'URLs with a path', re: /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+\/\S+/i, endpoint: true },
  { what: 'paths with an id segment', re: /^\/(?:[^/\s]*\/)*(?:\d{3,}|[0-9a-f]{8,}|[0-9a-f-]{36})(?:\/|$)/i },
  { what: 'timestamps', re: /^(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|1\d{9}(?:\.\d+)?|1\d{12})$/ },
  { what: 'hashes or hex ids', re: /^(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{16,}$/i },
  { what: 'numeric ids', re: /^\d{5,}$/ },
];

/** How many distinct id-like values a label needs before it is a finding: one build revision is bounded, many are not. */
const ID_VALUES_MIN = 2;

/**
 * Labels bounded by what they name, whatever their values look like: a port number (`port`, `*_port`: "15432" is
 * a port, not a numeric id) and a filesystem's mount point (node_exporter's `/run/user/1000`, one per logged-in user).
 */
function boundedValue(label: string, value: string): boolean {
  if (/(^|_)port$/.test(label)) return /^\d{1,5}$/.test(value) && Number(value) <= 65535;
  return label === 'mountpoint';
}

/**
 * An info family describes its target (node_exporter's `node_os_info`, `go_info`, prometheus_client's `Info`):
 * its labels are identifiers by design (an OS id, a version, a commit), one series per thing described, so they
 * are not judged as ids; its series count still is. OpenMetrics types it `info`; text writes a `*_info` gauge of 1.
 */
function isInfo(f: ParsedFamily): boolean {
  return f.type === 'info' || (/_info$/.test(f.name) && f.samples.length > 0 && f.samples.every((s) => s.value === 1));
}

/** idKey is what makes two id-like values different: for a URL its path and query, so endpoints that differ only in host are one. */
function idKey(value: string, endpoint: boolean): string {
  return endpoint ? value.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+/i, '') : value;
}

/** The families a pipemeter handle exposes before any event, so their absence is a finding. */
const startFamilies: ReadonlySet<string> = new Set(familiesAtStart.map((f) => f.name));

/**
 * familyName is the one name a family has in every finding and in `top`: the name of the series Prometheus stores.
 * OpenMetrics declares a counter without its `_total` (and an info without its `_info`) while its samples carry it,
 * so `scrape_requests` and `scrape_requests_total` are one family, named `scrape_requests_total` (as the catalog does).
 */
function familyName(f: ParsedFamily, format: Format): string {
  if (format !== 'openmetrics') return f.name;
  if (f.type === 'counter' && !f.name.endsWith('_total')) return `${f.name}_total`;
  if (f.type === 'info' && !f.name.endsWith('_info')) return `${f.name}_info`;
  return f.name;
}

function labelNames(f: ParsedFamily): Set<string> {
  const names = new Set<string>();
  for (const s of f.samples) for (const l in s.labels) if (!structuralLabels.has(l)) names.add(l);
  return names;
}

/** analyse turns one parsed exposition into findings; `nowMs` is the clock the age of last-success timestamps is read against. */
export function analyse(parsed: ParsedExposition, settings: CheckSettings, nowMs: number): Analysis {
  const declared = new Map(parsed.families.map((f) => [f.name, familyName(f, parsed.format)]));
  const findings: Finding[] = parsed.problems.map((p) => ({
    severity: p.severity,
    code: p.code,
    ...(p.family === undefined ? {} : { family: declared.get(p.family) ?? p.family }),
    line: p.line,
    message: p.message,
  }));
  const present = new Map<string, ParsedFamily>();
  for (const f of parsed.families) if (f.samples.length > 0) present.set(familyName(f, parsed.format), f);
  const kinds = kindDomains.filter((d) => familiesOf(d).some((def) => present.has(def.name)));

  if (settings.catalog) findings.push(...catalogFindings(present, kinds));
  findings.push(...staleFindings(parsed.families, settings, nowMs));
  findings.push(...lossFindings(parsed.families));
  findings.push(...labelFindings(parsed.families, parsed.format));

  const counts = parsed.families
    .map((f) => ({ family: familyName(f, parsed.format), series: f.samples.length }))
    .filter((c) => c.series > 0)
    .sort((a, b) => b.series - a.series || a.family.localeCompare(b.family));
  for (const c of counts) {
    if (c.series > settings.maxSeries) {
      findings.push({
        severity: 'warning',
        code: 'too-many-series',
        family: c.family,
        message: `${c.family} has ${c.series} series, over --max-series ${settings.maxSeries}; drop or bound a label (ids belong in exemplars)`,
      });
    }
  }
  return {
    format: parsed.format,
    families: parsed.families.length,
    series: counts.reduce((n, c) => n + c.series, 0),
    kinds,
    top: counts.slice(0, settings.top),
    findings: stable(findings),
  };
}

const severityOrder: Record<Severity, number> = { error: 0, warning: 1, note: 2 };

/** stable orders findings by severity (first seen first within one) and writes their keys in the documented order. */
function stable(findings: readonly Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => severityOrder[a.f.severity] - severityOrder[b.f.severity] || a.i - b.i)
    .map(({ f }) => ({
      severity: f.severity,
      code: f.code,
      ...(f.family === undefined ? {} : { family: f.family }),
      ...(f.label === undefined ? {} : { label: f.label }),
      ...(f.line === undefined ? {} : { line: f.line }),
      message: f.message,
    }));
}

function catalogFindings(present: ReadonlyMap<string, ParsedFamily>, kinds: readonly TargetKind[]): Finding[] {
  const out: Finding[] = [];
  if (kinds.length === 0) {
    out.push({
      severity: 'warning',
      code: 'no-catalog-families',
      message: 'no catalog family found, so the target\'s kind is unknown; name metrics as the catalog does (e.g. scraper_items_created_total) or drop --catalog',
    });
    return out;
  }
  const atStart = startFamilies;
  const domains: FamilyDomain[] = [...kinds];
  // pipemeter's own families come with every pipemeter meter; other exporters are not expected to have them.
  if (present.has('pipemeter_build_info')) domains.push('self');
  for (const domain of domains) {
    for (const def of familiesOf(domain)) {
      const f = present.get(def.name);
      if (f === undefined) {
        out.push(atStart.has(def.name) ? missingFinding(def, domain) : eventNote(def));
        continue;
      }
      out.push(...shapeFindings(def, f));
    }
  }
  return out;
}

function missingFinding(def: FamilyDef, domain: FamilyDomain): Finding {
  return {
    severity: 'warning',
    code: 'missing-family',
    family: def.name,
    message: `${def.name} is missing; a ${domain} instrumented with the catalog exposes it from the start (at 0), and rules and dashboards read it`,
  };
}

function eventNote(def: FamilyDef): Finding {
  return {
    severity: 'note',
    code: 'absent-until-event',
    family: def.name,
    message: `${def.name} is absent; it appears with its first event, so a quiet target may not have it yet`,
  };
}

/** shapeFindings compares a present family with its catalog definition: type and label names. */
function shapeFindings(def: FamilyDef, f: ParsedFamily): Finding[] {
  const out: Finding[] = [];
  if (f.type !== def.type) {
    out.push({
      severity: 'warning',
      code: 'catalog-type',
      family: def.name,
      message: `${def.name} is exposed as ${f.type}; the catalog defines it as a ${def.type}${f.typed ? '' : ' (add a # TYPE line)'}`,
    });
  }
  const have = labelNames(f);
  const want = new Set<string>(def.labels);
  const missing = [...want].filter((l) => !have.has(l));
  // meter.http() takes static labels (`labels: { service: 'api' }`) beside the catalog's; the rules group by the catalog's.
  const extra = def.domain === 'http' ? [] : [...have].filter((l) => !want.has(l));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `missing ${missing.map((l) => `"${l}"`).join(', ')}` : '',
      extra.length > 0 ? `not in the catalog ${extra.map((l) => `"${l}"`).join(', ')}` : '',
    ].filter((p) => p !== '');
    out.push({
      severity: 'warning',
      code: 'catalog-labels',
      family: def.name,
      message: `${def.name} labels differ from the catalog (${def.labels.join(', ')}): ${parts.join('; ')}; rules and dashboards group by the catalog's labels`,
    });
  }
  return out;
}

const LAST_SUCCESS = /_last_success_timestamp_seconds$/;
/** A last-success this far ahead of our clock is skew, not staleness; more than that is a wrong unit or a wrong clock. */
const FUTURE_TOLERANCE_S = 300;

function staleFindings(families: readonly ParsedFamily[], settings: CheckSettings, nowMs: number): Finding[] {
  const out: Finding[] = [];
  const now = nowMs / 1000;
  for (const f of families) {
    for (const s of f.samples) {
      if (!LAST_SUCCESS.test(s.name)) continue;
      const who = labelsInline(s.labels);
      const base = { family: s.name, line: s.line };
      if (!Number.isFinite(s.value) || s.value <= 0) {
        out.push({ ...base, severity: 'warning', code: 'stale-last-success', message: `${s.name}${who} is ${s.value}: no success recorded; set it on success only` });
      } else if (s.value > now + FUTURE_TOLERANCE_S) {
        const ms = s.value > 1e11;
        out.push({
          ...base,
          severity: 'warning',
          code: 'last-success-future',
          message: ms
            ? `${s.name}${who} is ${s.value}, which reads as milliseconds; write Unix seconds (divide by 1000)`
            : `${s.name}${who} is ${formatDuration((s.value - now) * 1000)} in the future; check the target's clock`,
        });
      } else if (now - s.value > settings.maxAgeSeconds) {
        out.push({
          ...base,
          severity: 'warning',
          code: 'stale-last-success',
          message: `${s.name}${who}: last success ${formatDuration((now - s.value) * 1000)} ago (${new Date(s.value * 1000).toISOString()}), older than --max-age ${formatDuration(settings.maxAgeSeconds * 1000)}`,
        });
      }
    }
  }
  return out;
}

/**
 * What pipemeter itself counted as ignored, folded, refused or lost, as its own counters tell since the
 * process started: a target that exposes them is a pipemeter meter or sidecar. Folding past a series
 * cap, ignored recording calls and dropped datagrams are warnings (the numbers read wrong until it is
 * fixed); events a sidecar refused are notes, as senders outside the target caused them.
 */
function lossFindings(families: readonly ParsedFamily[]): Finding[] {
  const out: Finding[] = [];
  const since = 'since the process started';
  for (const f of families) {
    for (const s of f.samples) {
      if (!(s.value > 0)) continue;
      const n = s.value;
      const base = { family: s.name, line: s.line };
      if (s.name === seriesOverflow.name) {
        out.push({
          ...base,
          severity: 'warning',
          code: 'series-overflow',
          message: `${s.labels.metric} folded ${n} recordings into its __overflow__ series ${since}: it reached its series cap; bound the label that grows (see unbounded-label-values) or raise maxSeries for a bounded one`,
        });
      } else if (s.name === instrumentationErrors.name) {
        out.push({
          ...base,
          severity: 'warning',
          code: 'instrumentation-errors',
          message: `${n} recording calls were ignored (${s.labels.reason}) ${since}; the process logged the first one with the fix`,
        });
      } else if (s.name === statsdDatagramsDropped.name) {
        out.push({
          ...base,
          severity: 'warning',
          code: 'statsd-dropped',
          message: `the kernel dropped ${n} StatsD datagrams on a full receive buffer ${since}; their lines were never counted (see the PipemeterStatsdDatagramsDropped runbook)`,
        });
      } else if (s.name === ingestRejected.name) {
        out.push({
          ...base,
          severity: 'note',
          code: 'ingest-rejected',
          message: `the sidecar refused ${refused(n, s.labels.source)} (reason ${s.labels.reason}) ${since}; it logged the first one with the fix`,
        });
      }
    }
  }
  return out;
}

/** What each `source` of pipemeter_ingest_rejected_total refuses, in the singular and the plural. */
const refusedInputs: Record<string, [string, string]> = {
  events: ['event sent to POST /v1/events', 'events sent to POST /v1/events'],
  firecrawl: ['Firecrawl webhook delivery', 'Firecrawl webhook deliveries'],
  statsd: ['StatsD line', 'StatsD lines'],
  http: ['malformed HTTP request', 'malformed HTTP requests'],
};

/** refused says how many of what a source refused: "3 events sent to POST /v1/events", "1 StatsD line". */
function refused(n: number, source: string | undefined): string {
  const [one, many] = refusedInputs[source ?? ''] ?? ['input from source "' + (source ?? '') + '"', 'inputs from source "' + (source ?? '') + '"'];
  return `${n} ${n === 1 ? one : many}`;
}

function labelsInline(labels: Record<string, string>): string {
  const e = Object.entries(labels);
  return e.length === 0 ? '' : `{${e.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
}

/** idShapeOf names the id shape a label value has, or undefined for a value that looks bounded. */
export function idShapeOf(value: string): string | undefined {
  return shapeOf(value)?.what;
}

function shapeOf(value: string): (typeof idShapes)[number] | undefined {
  for (const shape of idShapes) if (shape.re.test(value)) return shape;
  return undefined;
}

/**
 * labelFindings reports labels that grow without bound. A label named like an id is reported when it varies
 * (two or more distinct values) or its one value has an id's shape; a label named otherwise when two or more of
 * its values look like ids of one shape. Info families and labels bounded by what they name are left alone.
 */
function labelFindings(families: readonly ParsedFamily[], format: Format): Finding[] {
  const out: Finding[] = [];
  for (const f of families) {
    if (isInfo(f)) continue;
    const name = familyName(f, format);
    const values = new Map<string, Set<string>>();
    for (const s of f.samples) {
      for (const [l, v] of Object.entries(s.labels)) {
        if (structuralLabels.has(l)) continue;
        let set = values.get(l);
        if (set === undefined) values.set(l, (set = new Set()));
        set.add(v);
      }
    }
    for (const [label, set] of values) {
      const shapes = new Map<string, { keys: Set<string>; first: string }>();
      const keys = new Set<string>();
      for (const v of set) {
        if (boundedValue(label, v)) continue;
        const shape = shapeOf(v);
        const key = idKey(v, shape?.endpoint === true);
        keys.add(key);
        if (shape === undefined) continue;
        const seen = shapes.get(shape.what) ?? { keys: new Set<string>(), first: v };
        seen.keys.add(key);
        shapes.set(shape.what, seen);
      }
      if (idLikeLabel.test(label)) {
        const shaped = [...shapes.entries()].some(([what]) => idShapes.find((x) => x.what === what)?.endpoint !== true);
        if (keys.size >= ID_VALUES_MIN || shaped) {
          out.push({
            severity: 'warning',
            code: 'id-like-label',
            family: name,
            label,
            message: `label "${label}" of ${name} is named like an id, URL or timestamp (${set.size} distinct value${set.size === 1 ? '' : 's'}); ids belong in exemplars or logs, URLs reduced to their host`,
          });
        }
        continue;
      }
      for (const [what, { keys: shapedKeys, first }] of shapes) {
        if (shapedKeys.size < ID_VALUES_MIN) continue;
        out.push({
          severity: 'warning',
          code: 'unbounded-label-values',
          family: name,
          label,
          message: `label "${label}" of ${name} has values that look like ${what} (${shapedKeys.size} of ${set.size} distinct, e.g. "${first}"); such a label grows without bound: use an exemplar or a bounded value`,
        });
      }
    }
  }
  return out;
}
