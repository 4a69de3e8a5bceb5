/** StatsD and DogStatsD ingest: parses `name:value|type|@rate|#tag:v` lines and maps metric names onto bounded families. */
import { isUtf8 } from 'node:buffer';
import { findFamily } from '../catalog/index.js';
import type { MetricFamily } from '../meter/family.js';
import type { AnyInstrument, Meter } from '../meter/meter.js';
import { utf8Lines } from './body.js';
import { MAX_EVENT_VALUE } from './events.js';

/** Why a StatsD line was refused: the `reason` label of `pipemeter_ingest_rejected_total{source="statsd"}`. */
export const statsdRejectReasons = [
  'malformed_line',
  'unsupported_type',
  'invalid_value',
  'invalid_sample_rate',
  'unmapped',
  'type_mismatch',
  'invalid_label_value',
  'packet_too_large',
  'invalid_utf8',
] as const;
export type StatsdRejectReason = (typeof statsdRejectReasons)[number];

/** StatsD metric types pipemeter maps: counter, gauge, timer (milliseconds), histogram, distribution. */
export type StatsdType = 'c' | 'g' | 'ms' | 'h' | 'd';

export interface StatsdSample {
  name: string;
  type: StatsdType;
  value: number;
  /** Gauges only: the value had a leading sign, so it moves the gauge instead of setting it. */
  delta: boolean;
  rate: number;
  tags: Record<string, string>;
}

export type StatsdParsed = { ok: true; samples: StatsdSample[] } | { ok: false; reason: StatsdRejectReason; message: string };

/** One mapping as the config declares it. */
export interface StatsdMappingConfig {
  /** A glob (`*` matches one dot-separated part) or, with matchType regex, a regular expression anchored at both ends. */
  match: string;
  matchType: 'glob' | 'regex';
  /** A catalog family (scraper, pipeline or broker) or a family declared under `families:`. */
  family: string;
  /** Label values; `$1`, `${1}` or `${name}` take a capture of the match. A label not listed comes from the tag of that name. */
  labels: Record<string, string>;
}

export interface StatsdConfig {
  enabled: boolean;
  host: string;
  port: number;
  /** Larger datagrams are refused whole (counted as packet_too_large). */
  maxPacketBytes: number;
  mappings: StatsdMappingConfig[];
  /** Series written by StatsD and idle this long are dropped; undefined: never. */
  seriesTtlMs?: number;
}

/** The largest label value a capture or a tag may give; longer ones are refused, never truncated into a collision. */
const LABEL_VALUE_MAX = 128;
/**
 * Hot metric names are resolved once; the cache is bounded and cleared when full, so unmapped junk cannot grow it, and
 * only names of up to 256 characters are kept in it, so it holds at most ~5 MiB of names.
 */
const RESOLVE_CACHE_MAX = 10_000;
const CACHED_NAME_MAX = 256;
/** A sampled timer observes 1/rate times; this caps it, so `@0.0001` cannot stall the loop. */
const MAX_REPLICAS = 1000;
const nameRe = /^[^:|@#\s]+$/;
const numberRe = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const types: Record<string, StatsdType | 'unsupported'> = { c: 'c', g: 'g', ms: 'ms', h: 'h', d: 'd', s: 'unsupported' };

function fail(reason: StatsdRejectReason, message: string): StatsdParsed {
  return { ok: false, reason, message };
}

/**
 * parseStatsdLine reads one line: `name:value[:value...]|type[|@rate][|#k:v,k2:v2]`. DogStatsD's container
 * (`|c:`), timestamp (`|T`) and external-data (`|e:`) fields are accepted and ignored; events and service checks are refused.
 */
export function parseStatsdLine(line: string): StatsdParsed {
  if (line.startsWith('_e{') || line.startsWith('_sc|')) return fail('unsupported_type', 'DogStatsD events and service checks are not metrics; send them to Datadog, not to pipemeter');
  const colon = line.indexOf(':');
  const bar = line.indexOf('|');
  if (colon <= 0 || bar < colon) return fail('malformed_line', `expected name:value|type, got ${show(line)}`);
  const name = line.slice(0, colon);
  if (!nameRe.test(name)) return fail('malformed_line', `metric name ${show(name)} has spaces or reserved characters`);
  const fields = line.slice(bar + 1).split('|');
  const t = types[fields[0]!];
  if (t === undefined || t === 'unsupported') return fail('unsupported_type', `type ${show(fields[0])} is not one of c, g, ms, h, d (sets are not supported)`);
  let rate = 1;
  const tags: Record<string, string> = {};
  for (const f of fields.slice(1)) {
    if (f.startsWith('@')) {
      rate = Number(f.slice(1));
      if (!numberRe.test(f.slice(1)) || !(rate > 0 && rate <= 1)) return fail('invalid_sample_rate', `sample rate ${show(f)} is not in (0, 1]`);
    } else if (f.startsWith('#')) {
      for (const tag of f.slice(1).split(',')) {
        if (tag === '') continue;
        const i = tag.indexOf(':');
        // A tag without a value (`#canary`) names nothing a label can take: kept with an empty value, as DogStatsD does.
        tags[i < 0 ? tag : tag.slice(0, i)] = i < 0 ? '' : tag.slice(i + 1);
      }
    } else if (!(f.startsWith('c:') || f.startsWith('T') || f.startsWith('e:'))) {
      return fail('malformed_line', `unknown field ${show(f)}; expected @rate or #tags`);
    }
  }
  const samples: StatsdSample[] = [];
  for (const raw of line.slice(colon + 1, bar).split(':')) {
    if (!numberRe.test(raw)) return fail('invalid_value', `value ${show(raw)} is not a number`);
    const value = Number(raw);
    if (!Number.isFinite(value)) return fail('invalid_value', `value ${show(raw)} is not finite`);
    const signed = raw.startsWith('+') || raw.startsWith('-');
    if (t === 'c' && value < 0) return fail('invalid_value', `counter ${name} got ${raw}; counters only go up`);
    const accumulates = t !== 'g' || signed;
    const scaled = t === 'c' ? value / rate : t === 'ms' ? value / 1000 : value;
    // The events' bound (past 2^53 a value is not exact, and a few would carry a sum to +Inf); a gauge set takes any finite value.
    if (accumulates && Math.abs(scaled) > MAX_EVENT_VALUE) {
      return fail('invalid_value', `value ${show(raw)}${t === 'c' && rate !== 1 ? ` at sample rate ${rate}` : ''} is over ${MAX_EVENT_VALUE}, past which it is not exact and sums overflow to +Inf`);
    }
    samples.push({ name, type: t, value, delta: t === 'g' && signed, rate, tags });
  }
  return { ok: true, samples };
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? s.slice(0, 57) + '..."' : s;
}

/** The family type each StatsD type can write. */
const familyTypeOf: Record<StatsdType, 'counter' | 'gauge' | 'histogram'> = { c: 'counter', g: 'gauge', ms: 'histogram', h: 'histogram', d: 'histogram' };

/** globToRegExp: `*` matches one dot-separated part and is a capture; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('([^.]*)');
  return new RegExp(`^${body}$`);
}

/** compileMatch builds the anchored regular expression of a mapping; throws SyntaxError on a bad regex. */
export function compileMatch(m: Pick<StatsdMappingConfig, 'match' | 'matchType'>): RegExp {
  return m.matchType === 'glob' ? globToRegExp(m.match) : new RegExp(`^(?:${m.match})$`);
}

const refRe = /\$(\d+)|\$\{(\w+)\}/g;

/** templateRefs lists the captures a label template reads (`$1`, `${2}`, `${name}`). */
export function templateRefs(template: string): string[] {
  return [...template.matchAll(refRe)].map((m) => m[1] ?? m[2]!);
}

/** captureNames lists what a compiled match can give: group numbers and named groups. */
export function captureNames(re: RegExp): Set<string> {
  const groups = new RegExp(`${re.source}|`).exec('')!.length - 1;
  const out = new Set<string>();
  for (let i = 1; i <= groups; i++) out.add(String(i));
  for (const m of re.source.matchAll(/\(\?<([A-Za-z_]\w*)>/g)) out.add(m[1]!);
  return out;
}

/** The families a mapping may write: the scraper, pipeline and broker catalog, or a declared custom family. */
export function mappableCatalogFamily(name: string) {
  const f = findFamily(name);
  return f !== undefined && (f.domain === 'scraper' || f.domain === 'pipeline' || f.domain === 'broker') ? f : undefined;
}

interface Compiled {
  re: RegExp;
  family: MetricFamily;
  instrument: AnyInstrument;
  /** One template per family label, in label order; undefined: the tag of that name. */
  templates: (string | undefined)[];
  /** Closed value sets of the family's labels, in label order. */
  closed: (readonly string[] | undefined)[];
}

type Resolved = { m: Compiled; match: RegExpExecArray } | undefined;

/**
 * udpSocketDrops reads the kernel's drop count of the UDP socket bound to `port` from the text of
 * /proc/net/udp (or udp6): the last column of its line. `address` narrows an IPv4 match to the bound
 * address (`0100007F` is 127.0.0.1); undefined when no line, or more than one, matches.
 */
export function udpSocketDrops(procNetUdp: string, port: number, address?: string): number | undefined {
  let found: number | undefined;
  let matches = 0;
  for (const line of procNetUdp.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 13) continue;
    const [addr, p] = cols[1]!.split(':');
    if (p === undefined || parseInt(p, 16) !== port || (address !== undefined && addr !== address)) continue;
    const drops = Number(cols[cols.length - 1]);
    if (!Number.isSafeInteger(drops)) continue;
    found = drops;
    matches++;
  }
  return matches === 1 ? found : undefined;
}

/** procNetAddress writes an IPv4 address as /proc/net/udp does: four bytes, hex, in host (little-endian) order. */
export function procNetAddress(ipv4: string): string {
  return ipv4
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}

/** StatsdIngest turns datagrams into recordings; every line is counted, accepted or rejected with a reason. */
export class StatsdIngest {
  private readonly mappings: Compiled[];
  private readonly cache = new Map<string, Resolved>();
  private readonly accepted;
  private readonly rejectedLines;
  private readonly logger: (m: string) => void;
  private readonly logged = new Set<string>();
  /** The socket's kernel drop count at the last reading. */
  private kernelDrops = 0;

  private readonly forgotten;

  constructor(
    private readonly config: StatsdConfig,
    private readonly meter: Meter,
    logger: (m: string) => void,
  ) {
    this.logger = logger;
    const cat = meter.catalog;
    this.forgotten = cat.tableEvictions.labels({ table: 'statsd_names' });
    this.accepted = cat.ingestEvents.labels({ source: 'statsd', outcome: 'accepted' });
    this.rejectedLines = cat.ingestEvents.labels({ source: 'statsd', outcome: 'rejected' });
    for (const reason of statsdRejectReasons) cat.ingestRejected.labels({ source: 'statsd', reason });
    this.mappings = config.mappings.map((m) => {
      const instrument = meter.instrument(m.family);
      // The config was validated against the catalog and the declared families; a miss here is a wiring bug.
      if (instrument === undefined) throw new Error(`statsd mapping for "${m.match}": family ${m.family} is not registered in the meter`);
      const family = instrument.instrument.family;
      return {
        re: compileMatch(m),
        family,
        instrument,
        templates: family.labelNames.map((l) => m.labels[l]),
        closed: family.labelNames.map((l) => family.def.values?.[l]),
      };
    });
  }

  /**
   * recordKernelDrops takes the socket's drop count as the kernel reports it (cumulative for the
   * socket's life) and adds what is new to pipemeter_statsd_datagrams_dropped_total.
   */
  recordKernelDrops(total: number): void {
    const counter = this.meter.catalog.statsdDatagramsDropped;
    if (total > this.kernelDrops) counter.inc({}, total - this.kernelDrops);
    else counter.inc({}, 0);
    this.kernelDrops = Math.max(this.kernelDrops, total);
  }

  /** The families mappings write: what the StatsD series TTL sweeps. */
  families(): MetricFamily[] {
    return [...new Set(this.mappings.map((m) => m.family))];
  }

  /**
   * handlePacket ingests one datagram: newline-separated lines, each accepted or rejected on its own. A line that is not
   * UTF-8 is refused: decoded, its bad bytes would become U+FFFD and distinct names would merge into one series.
   */
  handlePacket(buf: Buffer): void {
    if (buf.length > this.config.maxPacketBytes) {
      this.reject('packet_too_large', `a ${buf.length}-byte datagram is over statsd.max_packet (${this.config.maxPacketBytes}); send smaller packets`);
      return;
    }
    const lines = isUtf8(buf) ? buf.toString('utf8').split('\n') : utf8Lines(buf);
    for (const raw of lines) {
      if (raw === undefined) {
        this.reject('invalid_utf8', 'a line is not valid UTF-8; send metric names, values and tags as UTF-8');
        continue;
      }
      const line = raw.trim();
      if (line === '') continue;
      const parsed = parseStatsdLine(line);
      if (!parsed.ok) {
        this.reject(parsed.reason, parsed.message);
        continue;
      }
      let ok = true;
      for (const s of parsed.samples) {
        const why = this.apply(s);
        if (why !== undefined) {
          ok = false;
          this.reject(why[0], why[1]);
          break;
        }
      }
      if (ok) this.accepted.inc();
    }
  }

  private reject(reason: StatsdRejectReason, message: string): void {
    this.meter.catalog.ingestRejected.inc({ source: 'statsd', reason });
    this.rejectedLines.inc();
    if (!this.logged.has(reason)) {
      this.logged.add(reason);
      this.logger(`pipemeter serve: statsd: refused a line (${reason}): ${message}; counted in pipemeter_ingest_rejected_total{source="statsd"}, further ones are counted, not logged`);
    }
  }

  private resolve(name: string): Resolved {
    if (this.cache.has(name)) return this.cache.get(name);
    let r: Resolved;
    for (const m of this.mappings) {
      const match = m.re.exec(name);
      if (match !== null) {
        r = { m, match };
        break;
      }
    }
    if (name.length > CACHED_NAME_MAX) return r;
    if (this.cache.size >= RESOLVE_CACHE_MAX) {
      this.forgotten.inc(this.cache.size);
      this.cache.clear();
    }
    this.cache.set(name, r);
    return r;
  }

  private apply(s: StatsdSample): [StatsdRejectReason, string] | undefined {
    const r = this.resolve(s.name);
    if (r === undefined) return ['unmapped', `no statsd mapping matches ${show(s.name)}; add one under statsd.mappings (unmapped names are dropped so they cannot grow the series count)`];
    const { m, match } = r;
    const type = m.instrument.type;
    if (familyTypeOf[s.type] !== type) return ['type_mismatch', `${s.name} is a StatsD ${s.type} but ${m.family.name} is a ${type}; map it onto a ${familyTypeOf[s.type]}`];
    const labels: Record<string, string> = {};
    for (let i = 0; i < m.templates.length; i++) {
      const t = m.templates[i];
      const label = m.family.labelNames[i]!;
      const v = t === undefined ? s.tags[label] : t.replace(refRe, (_, n: string | undefined, g: string | undefined) => (n !== undefined ? match[Number(n)] : match.groups?.[g!]) ?? '');
      if (v === undefined || v === '' || v.length > LABEL_VALUE_MAX) {
        return ['invalid_label_value', `${s.name}: label ${label} of ${m.family.name} is ${v === undefined ? 'missing (map it or send the tag)' : v === '' ? 'empty' : 'over 128 characters'}`];
      }
      const closed = m.closed[i];
      if (closed !== undefined && !closed.includes(v)) return ['invalid_label_value', `${s.name}: label ${label} of ${m.family.name} must be one of ${closed.join(', ')}, got ${show(v)}`];
      labels[label] = v;
    }
    const i = m.instrument;
    switch (i.type) {
      case 'counter':
        i.instrument.inc(labels, s.value / s.rate);
        return undefined;
      case 'gauge':
        if (s.delta) i.instrument.inc(labels, s.value);
        else i.instrument.set(labels, s.value);
        return undefined;
      case 'histogram': {
        // Timers are milliseconds in StatsD; Prometheus families are in base units.
        const v = s.type === 'ms' ? s.value / 1000 : s.value;
        const n = Math.min(MAX_REPLICAS, Math.max(1, Math.round(1 / s.rate)));
        const bound = i.instrument;
        for (let r = 0; r < n; r++) bound.observe(labels, v);
        return undefined;
      }
    }
  }
}
