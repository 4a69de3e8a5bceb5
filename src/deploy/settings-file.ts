/** Deploy settings from a YAML (or JSON) file: a partial Settings tree merged over `defaults`, every problem reported at once with file:line:col. */
import { isDeepStrictEqual } from 'node:util';
import { type Document, type Node, isAlias, isMap, isScalar, isSeq } from 'yaml';
import { jobOutcomes } from '../catalog/index.js';
import { isPrometheusDuration, isSingleUnitDuration, parseDuration } from '../shared/units.js';
import { type Problems, describe, didYouMean, isEmpty, parseYaml } from '../shared/yaml-problems.js';
import { type Settings, defaults } from './settings.js';

/** A rule for one value: whether it is acceptable, and what is expected instead, given the default (used as the example). */
export interface Rule {
  ok(v: unknown): boolean;
  expected(dflt: unknown): string;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

// Prometheus and Alertmanager read these as written: the shared grammar (src/shared/units.ts) without decimals.
const durationHint = 'units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"';
const duration: Rule = {
  ok: (v) => isPrometheusDuration(v) && parseDuration(v)! > 0,
  expected: (d) => `a duration such as ${show(d)} (${durationHint})`,
};
/** `for:` may be 0s: the alert fires at the first evaluation that sees the condition. */
const forDuration: Rule = {
  ok: (v) => isPrometheusDuration(v),
  expected: (d) => `a duration such as ${show(d)} (${durationHint}; "0s" fires at once)`,
};
/** A window that recording-rule names carry (`..._rate5m`, `error_ratio_rate1h`) is one number and one unit. */
const nameWindow: Rule = {
  ok: (v) => isSingleUnitDuration(v) && parseDuration(v)! > 0,
  expected: (d) => `a duration such as ${show(d)} in one whole number and one unit, as recording-rule names carry it (\`_rate${String(d)}\`): "90m", not "1h30m"`,
};
/** Grafana reads a refresh interval of one number and one unit. */
const refresh: Rule = {
  ok: (v) => isSingleUnitDuration(v) && parseDuration(v)! > 0,
  expected: (d) => `a refresh interval such as ${show(d)}: one whole number and one unit, as Grafana reads it ("90s", not "1m30s")`,
};
const severities = ['critical', 'warning', 'info'];
const severity: Rule = { ok: (v) => severities.includes(v as string), expected: () => 'one of the severities critical, warning or info' };
const ratio: Rule = {
  ok: (v) => isNumber(v) && v > 0 && v < 1,
  expected: (d) => `a number between 0 and 1, both excluded, such as ${show(d)} (${Math.round(Number(d) * 1e6) / 1e4} % is ${show(d)})`,
};
const positive: Rule = { ok: (v) => isNumber(v) && v > 0, expected: (d) => `a number greater than 0, such as ${show(d)}` };
// The sidecar job also names the generated Deployment, Service and ServiceMonitor: a Kubernetes DNS label.
const kubernetesName: Rule = {
  ok: (v) => typeof v === 'string' && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v),
  expected: (d) => `a name such as ${show(d)}: lower-case letters, digits and "-", at most 63, as it also names the Kubernetes objects`,
};
// Job names go into PromQL selectors as `job="..."`, unescaped.
const jobName: Rule = {
  ok: (v) => isString(v) && !/["\\\n]/.test(v),
  expected: (d) => `a job name such as ${show(d)}, without quotes, backslashes or line breaks`,
};
const labelName: Rule = {
  ok: (v) => typeof v === 'string' && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(v),
  expected: (d) => `a label name such as ${show(d)}: letters, digits and "_", not starting with a digit`,
};
const outcome: Rule = { ok: (v) => (jobOutcomes as readonly unknown[]).includes(v), expected: () => `a job outcome: ${jobOutcomes.join(', ')}` };
const url: Rule = {
  ok: (v) => typeof v === 'string' && /^https?:\/\/[^\s/]+/.test(v),
  expected: (d) => `an http(s) URL such as ${show(d)}`,
};

/** typeRule judges a value by its default's type, for fields no rule below refines. */
function typeRule(dflt: unknown): Rule {
  if (typeof dflt === 'number') return { ok: isNumber, expected: (d) => `a number such as ${show(d)}` };
  if (typeof dflt === 'boolean') return { ok: (v) => typeof v === 'boolean', expected: () => 'true or false' };
  return { ok: isString, expected: (d) => `a non-empty string such as ${show(d)}` };
}

/**
 * Rules by path, first match wins: `*` is one key, `**` any number of keys, `[]` any list item.
 * A field matched by none is judged by its default's type alone.
 */
const rules: readonly (readonly [pattern: string, rule: Rule])[] = [
  ['**.for', forDuration],
  ['scrapeInterval', duration],
  ['evaluationInterval', duration],
  ['rateWindow', nameWindow],
  ['**.window', duration],
  ['scraper.itemRateDrop.baseline', duration],
  ['scraper.noRecentSuccess.memory', duration],
  ['slo.*.windows[].long', nameWindow],
  ['slo.*.windows[].short', nameWindow],
  ['alertmanager.repeat.*', duration],
  ['alertmanager.groupWait', duration],
  ['alertmanager.groupInterval', duration],
  ['grafana.refresh', refresh],
  ['**.severity', severity],
  ['quantiles[]', ratio],
  ['**.quantile', ratio],
  ['**.maxRatio', ratio],
  ['scraper.itemRateDrop.minRatioOfBaseline', ratio],
  ['slo.target', ratio],
  ['scraper.noRecentSuccess.maxAgeSeconds', positive],
  ['pipeline.stageLatency.maxSeconds', positive],
  ['pipeline.queueBacklog.maxWaitSeconds', positive],
  ['pipeline.queueBacklog.maxDepth', positive],
  ['pipeline.realtimeFactor.max', positive],
  ['slo.*.windows[].factor', positive],
  ['jobs.sidecar', kubernetesName],
  ['jobs.*', jobName],
  ['absentJobs[]', jobName],
  ['slo.badOutcomes[]', outcome],
  ['slo.countedOutcomes[]', outcome],
  ['alertmanager.groupBy[]', labelName],
  ['alertmanager.url', url],
  ['grafana.url', url],
  ['grafana.datasourceUrl', url],
  ['runbookBaseUrl', url],
];

/** Lists that must keep at least one item: each would render an empty or invalid expression. */
const nonEmptyLists = ['quantiles', 'absentJobs', 'slo.badOutcomes', 'slo.countedOutcomes', 'slo.*.windows'];

/** Item templates for lists whose default is empty, so their items still have a type to be judged by. */
const emptyListItems: Record<string, unknown> = { workerTargets: 'localhost:9101' };

/** pattern matches a path split at dots, list indices already written as `[]`. */
function matches(pattern: readonly string[], path: readonly string[]): boolean {
  if (pattern.length === 0) return path.length === 0;
  const [head, ...rest] = pattern;
  if (head === '**') return path.some((_, i) => matches(rest, path.slice(i)));
  return path.length > 0 && (head === '*' || head === path[0]) && matches(rest, path.slice(1));
}

/** genericPath writes list indices as `[]`: `slo.page.windows[1].long` → `slo.page.windows[].long`. */
const genericPath = (path: string) => path.replace(/\[\d+\]/g, '[]');
/** matchesPath tells whether a rule pattern covers a setting's path. */
export const matchesPath = (pattern: string, path: string) => matches(pattern.split('.'), genericPath(path).split('.'));

/** ruleAt is the rule a leaf at `path` is judged by; exported for the test that every default passes its own rule. */
export function ruleAt(path: string, dflt: unknown): Rule {
  return rules.find(([pattern]) => matchesPath(pattern, path))?.[1] ?? typeRule(dflt);
}

/** rulePatterns lists the patterns of the rule table, for the test that each one names a real setting. */
export const rulePatterns: readonly string[] = [...rules.map(([p]) => p), ...nonEmptyLists];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One walk over the document: the problems so far, and the node each path came from, for the checks across fields. */
interface Walk {
  doc: Document;
  p: Problems;
  nodes: Map<string, Node>;
}

/**
 * read turns `node` into a value shaped like `dflt`: a mapping merges key by key over the default (or, for a list
 * item, `whole`, must give every key), a list replaces the default list, a scalar must pass its rule.
 * Returns undefined when the value has a problem, so the caller keeps the default while collecting the rest.
 */
function read(raw: Node, dflt: unknown, path: string, w: Walk, whole = false): unknown {
  const node = isAlias(raw) ? ((raw.resolve(w.doc) as Node | undefined) ?? raw) : raw;
  w.nodes.set(path, node);
  if (isObject(dflt)) {
    const keys = Object.keys(dflt);
    if (!isMap(node)) {
      w.p.add(node, path, `expected a mapping of ${keys.join(', ')}, got ${describe(node)}`);
      return undefined;
    }
    const out: Record<string, unknown> = whole ? {} : { ...dflt };
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const at = path === '' ? key : `${path}.${key}`;
      if (!Object.hasOwn(dflt, key)) {
        const near = didYouMean(key, keys);
        w.p.add(keyNode, at, `unknown key; ${near !== undefined ? `did you mean "${near}"?` : `known keys here: ${keys.join(', ')}`}`);
        continue;
      }
      if (isEmpty(pair.value as Node | null)) {
        // An unquoted `#channel` is a YAML comment, which leaves the key empty.
        const hash = typeof dflt[key] === 'string' && dflt[key].startsWith('#') ? ` (quote a value that starts with "#", such as ${show(dflt[key])}: unquoted, # starts a comment)` : '';
        w.p.add(keyNode, at, `has no value; give one or remove the key to keep the default${hash}`);
        continue;
      }
      const v = read(pair.value as Node, dflt[key], at, w, whole);
      if (v !== undefined) out[key] = v;
    }
    if (whole) {
      const missing = keys.filter((k) => !node.items.some((pair) => isScalar(pair.key) && String(pair.key.value) === k));
      for (const k of missing) w.p.add(node, `${path}.${k}`, `is required; a list item gives all of ${keys.join(', ')}`);
    }
    return out;
  }
  if (Array.isArray(dflt)) {
    if (!isSeq(node)) {
      w.p.add(node, path, `expected a list (one "- item" per line, or [a, b]), got ${describe(node)}`);
      return undefined;
    }
    if (node.items.length === 0 && nonEmptyLists.some((pattern) => matchesPath(pattern, path))) {
      w.p.add(node, path, `is an empty list; give at least one item, or remove the key to keep the default ${JSON.stringify(dflt)}`);
      return undefined;
    }
    const itemDefault = dflt.length > 0 ? dflt[0] : emptyListItems[genericPath(path)];
    const items = node.items.map((item, i) => read(item as Node, itemDefault, `${path}[${i}]`, w, true));
    return items.includes(undefined) ? undefined : items;
  }
  const value = isScalar(node) ? node.value : undefined;
  const rule = ruleAt(path, dflt);
  if (rule.ok(value)) return value;
  w.p.add(node, path, `expected ${rule.expected(dflt)}, got ${describe(node)}`);
  return undefined;
}

/** acrossFields checks what no single field can, once every field is valid: bad outcomes are counted, and each burn-rate pair's short window is shorter. */
function acrossFields(s: Settings, w: Walk): void {
  for (const o of s.slo.badOutcomes) {
    if (s.slo.countedOutcomes.includes(o)) continue;
    const at = w.nodes.has('slo.badOutcomes') ? 'slo.badOutcomes' : 'slo.countedOutcomes';
    w.p.add(w.nodes.get(at), at, `"${o}" is a bad outcome but not counted, so the error ratio could exceed 1; add it to slo.countedOutcomes or drop it from slo.badOutcomes`);
  }
  for (const alert of ['page', 'ticket'] as const) {
    s.slo[alert].windows.forEach((b, i) => {
      if (parseDuration(b.short)! >= parseDuration(b.long)!) {
        const at = `slo.${alert}.windows[${i}].short`;
        w.p.add(w.nodes.get(at), at, `${b.short} is not shorter than long (${b.long}); the short window only makes the alert reset quickly, e.g. long/12`);
      }
    });
  }
}

/**
 * loadSettings parses a partial deploy Settings tree from YAML (or JSON) and merges it over `defaults`: mappings merge
 * key by key, lists and scalars replace. An empty file gives the defaults. Every problem is collected and thrown at once
 * as one E_SETTINGS error, one line each: `file:line:col: path.to.key: what is wrong, how to fix`.
 */
export function loadSettings(text: string, file: string): Settings {
  const { doc, root, problems } = parseYaml(text, file);
  const w: Walk = { doc, p: problems, nodes: new Map() };
  let settings = defaults;
  if (w.p.list.length === 0 && !isEmpty(root)) {
    if (isMap(root)) {
      settings = read(root!, defaults, '', w) as Settings;
      if (w.p.list.length === 0) acrossFields(settings, w);
    } else {
      w.p.add(root, '(top level)', `expected a mapping of settings (${Object.keys(defaults).join(', ')}), got ${describe(root!)}; see config/deploy-settings.example.yaml`);
    }
  }
  w.p.throwIfAny('E_SETTINGS', 'deploy settings');
  return settings;
}

/** differsFromDefaults tells whether generated files would differ from the shipped ones in any setting. */
export function differsFromDefaults(s: Settings): boolean {
  return !isDeepStrictEqual(s, defaults);
}
