/** The sidecar's YAML configuration: typed settings with defaults in one place, validated once with file:line:col for every problem. */
import { isAbsolute, resolve } from 'node:path';
import { type Node, isMap, isScalar, isSeq } from 'yaml';
import { type BrokerKind, type NativeHistogramOptions, brokerKinds, catalog } from '../catalog/index.js';
import { BUILTIN_PREFIXES, FamilyNames, familyProblem } from '../meter/validate.js';
import { PipemeterError } from '../shared/errors.js';
import { DURATION_HINT, SIZE_HINT, parseDuration, parseSize } from '../shared/units.js';
import { Problems, describe, didYouMean, isEmpty, parseYaml } from '../shared/yaml-problems.js';
import { type StatsdConfig, type StatsdMappingConfig, captureNames, compileMatch, mappableCatalogFamily, templateRefs } from './statsd.js';

export interface ListenerConfig {
  host: string;
  port: number;
}

export interface IngestListenerConfig extends ListenerConfig {
  /** File holding the Bearer token the ingest API requires; absent: no auth (loopback only by default). */
  tokenFile?: string;
}

export interface ScraperConfig {
  name: string;
  itemTypes: string[];
  sources: string[];
}

export interface PipelineConfig {
  name: string;
  stages: string[];
  /** Firecrawl webhooks for this pipeline; absent: the webhook route answers 404 for it. */
  firecrawl?: { secretFile?: string };
}

export interface CustomFamilyConfig {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  labels: string[];
  buckets?: number[];
  /** Histograms: native buckets too (`native: true`, or `{schema, max_buckets, zero_threshold}`). */
  native?: boolean | NativeHistogramOptions;
}

export interface ProbeConfig {
  name: string;
  url: string;
  intervalMs: number;
  timeoutMs: number;
}

export interface LimitsConfig {
  /** Largest request body the ingest listener reads. */
  bodyBytes: number;
  /** Series cap per family; past it new label sets fold into one overflow series. */
  maxSeries: number;
  /** Jobs held in the in-flight table; past it the oldest is evicted. */
  jobs: number;
  /** A job never finished after this long is evicted as `abandoned`. */
  jobTtlMs: number;
  /** Series not written for this long are dropped; undefined: never. */
  seriesTtlMs?: number;
  /** Recent webhook event keys remembered to drop duplicate deliveries. */
  dedupKeys: number;
  /** How often the job TTL and series TTL sweeps run. */
  sweepIntervalMs: number;
  /** Ingest requests per client address: a token bucket; past it 429. */
  rate: { perSecond: number; burst: number; maxClients: number };
  /** Distinct scraper names with a handle of their own; past it new names fold into the `__overflow__` series. */
  maxScrapers: number;
  /** Distinct pipeline names with a handle of their own; past it new names fold into the `__overflow__` series. */
  maxPipelines: number;
  /** A request body must arrive whole within this, from its first byte; else 408. */
  bodyTimeoutMs: number;
  /** Request body bytes held at once, by all ingest requests together; past it 503. */
  inFlightBytes: number;
  /** Request body bytes held at once for one client address; past it 429. */
  inFlightBytesPerAddress: number;
  /** Concurrent connections per listener and per client address, and how long a connection may idle or take to send its headers. */
  connections: ConnectionLimits;
}

export interface ConnectionLimits {
  metrics: number;
  metricsPerAddress: number;
  ingest: number;
  ingestPerAddress: number;
  /** A connection that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /** A request's headers must arrive within this. */
  headersTimeoutMs: number;
}

/** A broker queue poller: one Redis connection, polled on its interval. */
export interface BrokerConfig {
  /** The `broker` label. */
  name: string;
  kind: BrokerKind;
  /** `redis://[user@]host:port/db` (or rediss://); never with a password in it. */
  url: string;
  /** File holding the Redis password; the only way to give one. */
  passwordFile?: string;
  queues: string[];
  intervalMs: number;
  timeoutMs: number;
  /** Key prefix: kombu's global_keyprefix (default none), Dramatiq's namespace (`dramatiq`), BullMQ's prefix (`bull`); RQ has none. */
  prefix: string;
  /** Celery only: kombu's priority_steps and the separator of its priority sub-queue names. */
  prioritySteps: number[];
  separator: string;
}

export interface StateConfig {
  /** Where the job table is snapshotted; undefined: in memory only. */
  file?: string;
  snapshotIntervalMs: number;
}

export interface SidecarConfig {
  /** The file the config came from, for messages. */
  source: string;
  listeners: { metrics: ListenerConfig; ingest: IngestListenerConfig };
  scrapers: ScraperConfig[];
  pipelines: PipelineConfig[];
  families: CustomFamilyConfig[];
  probes: ProbeConfig[];
  limits: LimitsConfig;
  state: StateConfig;
  statsd: StatsdConfig;
  brokers: BrokerConfig[];
}

/** defaults: every setting the YAML may leave out. */
export const defaults = {
  metrics: { host: '0.0.0.0', port: 9464 },
  ingest: { host: '127.0.0.1', port: 9465 },
  probe: { intervalMs: 15_000, timeoutMs: 5_000 },
  limits: {
    bodyBytes: 1024 * 1024,
    maxSeries: 10_000,
    jobs: 100_000,
    jobTtlMs: 24 * 3600_000,
    seriesTtlMs: undefined,
    dedupKeys: 100_000,
    sweepIntervalMs: 10_000,
    rate: { perSecond: 1000, burst: 2000, maxClients: 10_000 },
    // A pipeline handle starts about 160 sample lines (histograms per outcome), a scraper about 34: at these caps a flood
    // of names leaves an exposition of ~3 MB, which renders in well under a second (bench/results/flood.md).
    maxScrapers: 500,
    maxPipelines: 100,
    bodyTimeoutMs: 30_000,
    inFlightBytes: 64 * 1024 * 1024,
    inFlightBytesPerAddress: 16 * 1024 * 1024,
    connections: { metrics: 256, metricsPerAddress: 64, ingest: 1024, ingestPerAddress: 512, idleTimeoutMs: 30_000, headersTimeoutMs: 10_000 },
  } satisfies LimitsConfig as LimitsConfig,
  state: { snapshotIntervalMs: 30_000 },
  /** Off unless enabled; on loopback when on, since StatsD has no authentication. 9125 is statsd_exporter's port. */
  statsd: { enabled: false, host: '127.0.0.1', port: 9125, maxPacketBytes: 65_507 },
  broker: {
    intervalMs: 15_000,
    timeoutMs: 5_000,
    prefix: { celery: '', dramatiq: 'dramatiq', rq: '', bullmq: 'bull' } satisfies Record<BrokerKind, string>,
    // kombu's redis transport: PRIORITY_STEPS and the queue/priority separator "\x06\x16".
    prioritySteps: [0, 3, 6, 9],
    separator: '\x06\x16',
  },
} as const;

/** configFromDefaults is the config with nothing declared: what an empty file gives. */
export function configFromDefaults(source = '<defaults>'): SidecarConfig {
  return {
    source,
    listeners: { metrics: { ...defaults.metrics }, ingest: { ...defaults.ingest } },
    scrapers: [],
    pipelines: [],
    families: [],
    probes: [],
    limits: { ...defaults.limits, rate: { ...defaults.limits.rate }, connections: { ...defaults.limits.connections } },
    state: { ...defaults.state },
    statsd: { ...defaults.statsd, mappings: [] },
    brokers: [],
  };
}

/**
 * How large a config may be: checked before anything is built, so a huge file fails at once with the bound it crossed
 * (docs/reliability.md lists them).
 */
export const configBounds = {
  /** Bytes of YAML. */
  fileBytes: 1024 * 1024,
  /** Custom families, probes and StatsD mappings, each. */
  entries: 1000,
  /** Brokers. */
  brokers: 100,
  /** Items of one inner list: item types, sources, stages, labels, buckets, queues. */
  listItems: 100,
  /** Characters of a family's help text. */
  helpChars: 1024,
} as const;

/** Names of scrapers, pipelines, stages, item types and probes: label values that stay readable and bounded. */
const nameRe = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
/** Keys that would put a secret inline: named so the message can say where the secret goes instead. */
const inlineSecretHint: Record<string, string> = {
  token: 'secrets are read from files only; put the token in a file (mode 0600) and set token_file',
  secret: 'secrets are read from files only; put the secret in a file (mode 0600) and set secret_file',
  password: 'secrets are read from files only; put the password in a file (mode 0600) and set password_file',
};

type Reader<T> = (node: Node, path: string, p: Problems) => T | undefined;

const str: Reader<string> = (node, path, p) => {
  if (isScalar(node) && typeof node.value === 'string' && node.value !== '') return node.value;
  p.add(node, path, `expected a non-empty string, got ${describe(node)}`);
  return undefined;
};

const name: Reader<string> = (node, path, p) => {
  const s = str(node, path, p);
  if (s === undefined) return undefined;
  if (!nameRe.test(s)) {
    // JSON quoting: a newline or quote in the name must not break the one-line-per-problem message.
    p.add(node, path, `${JSON.stringify(s)} is not a valid name; use up to 64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit`);
    return undefined;
  }
  return s;
};

function int(min: number, max = Number.MAX_SAFE_INTEGER): Reader<number> {
  return (node, path, p) => {
    if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= min && node.value <= max) return node.value;
    p.add(node, path, `expected a whole number from ${min} to ${max}, got ${describe(node)}`);
    return undefined;
  };
}

/** The largest handle cap (limits.max_scrapers, limits.max_pipelines), and so the most scrapers or pipelines a config declares. */
export const MAX_HANDLES = 10_000;

/** Node runs a timer of more than 2^31-1 ms after 1 ms: interval settings stay below it. */
const TIMER_MAX_MS = 2 ** 31 - 1;

function duration(minMs: number, maxMs = Number.MAX_SAFE_INTEGER): Reader<number> {
  return (node, path, p) => {
    // A bare YAML number is seconds.
    const v = isScalar(node) ? node.value : undefined;
    const ms = typeof v === 'number' ? (Number.isFinite(v) && v >= 0 ? v * 1000 : undefined) : parseDuration(v);
    if (ms !== undefined && ms >= minMs && ms <= maxMs) return ms;
    const range = maxMs === Number.MAX_SAFE_INTEGER ? `of at least ${minMs}ms` : `from ${minMs}ms to ${maxMs === TIMER_MAX_MS ? '24d' : `${maxMs}ms`}`;
    p.add(node, path, `expected ${DURATION_HINT.replace('a duration', `a duration ${range}`)}, got ${describe(node)}`);
    return undefined;
  };
}

const positive: Reader<number> = (node, path, p) => {
  if (isScalar(node) && typeof node.value === 'number' && Number.isFinite(node.value) && node.value > 0) return node.value;
  p.add(node, path, `expected a number greater than 0, got ${describe(node)}`);
  return undefined;
};

const size: Reader<number> = (node, path, p) => {
  const n = isScalar(node) ? parseSize(node.value) : undefined;
  if (n !== undefined) return n;
  p.add(node, path, `expected ${SIZE_HINT}, got ${describe(node)}`);
  return undefined;
};

function list<T>(item: Reader<T>, max: number = configBounds.listItems): Reader<T[]> {
  return (node, path, p) => {
    if (!isSeq(node)) {
      p.add(node, path, `expected a list such as [a, b], got ${describe(node)}`);
      return undefined;
    }
    if (node.items.length > max) {
      p.add(node, path, `${node.items.length} items; at most ${max} are allowed`);
      return undefined;
    }
    const out: T[] = [];
    node.items.forEach((n, i) => {
      const v = item(n as Node, `${path}[${i}]`, p);
      if (v !== undefined) out.push(v);
    });
    return out;
  };
}

type Fields = Record<string, (node: Node, path: string) => void>;

/** namedList reads a list of named items with `read`, refusing a second item of the same name. */
function namedList<T extends { name: string }>(
  node: Node,
  path: string,
  p: Problems,
  expected: string,
  read: Reader<T>,
  into: T[],
  duplicate: (name: string) => string,
  max: number = configBounds.entries,
): void {
  if (!isSeq(node)) return p.add(node, path, expected);
  if (node.items.length > max) return p.add(node, path, `${node.items.length} entries; at most ${max} are allowed`);
  node.items.forEach((item, i) => {
    const v = read(item as Node, `${path}[${i}]`, p);
    if (v === undefined) return;
    if (into.some((x) => x.name === v.name)) p.add(item as Node, `${path}[${i}].name`, duplicate(v.name));
    else into.push(v);
  });
}

/** fields walks a mapping: each known key goes to its reader, unknown keys are problems with a hint. */
function fields(node: Node, path: string, p: Problems, known: Fields, required: readonly string[] = []): boolean {
  if (!isMap(node)) {
    p.add(node, path, `expected a mapping of ${Object.keys(known).join(', ')}, got ${describe(node)}`);
    return false;
  }
  const seen = new Set<string>();
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const at = path === '' ? key : `${path}.${key}`;
    const read = Object.hasOwn(known, key) ? known[key] : undefined;
    if (read === undefined) {
      const hint = inlineSecretHint[key] ?? (didYouMean(key, Object.keys(known)) !== undefined ? `did you mean "${didYouMean(key, Object.keys(known))}"?` : `known keys: ${Object.keys(known).join(', ')}`);
      p.add(keyNode, at, `unknown key; ${hint}`);
      continue;
    }
    seen.add(key);
    if (isEmpty(pair.value as Node | null)) {
      p.add(keyNode, at, 'has no value; give one or remove the key');
      continue;
    }
    read(pair.value as Node, at);
  }
  for (const r of required) {
    if (!seen.has(r)) p.add(node, path === '' ? r : `${path}.${r}`, 'is required');
  }
  return true;
}

/** entries walks a mapping of name -> settings (scrapers, pipelines), of at most `max` names. */
function entries(node: Node, path: string, p: Problems, max: number, each: (name: string, value: Node, path: string) => void): void {
  if (!isMap(node)) {
    p.add(node, path, `expected a mapping of names to settings, got ${describe(node)}`);
    return;
  }
  if (node.items.length > max) {
    p.add(node, path, `${node.items.length} names; at most ${max} are allowed (limits.max_${path}, at most ${MAX_HANDLES}); names that are not declared need no entry`);
    return;
  }
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = name(keyNode, path + '.<name>', p);
    if (key === undefined) continue;
    const at = `${path}.${key}`;
    // A bare `beatport:` declares the name with default settings.
    if (isEmpty(pair.value as Node | null)) each(key, null as unknown as Node, at);
    else each(key, pair.value as Node, at);
  }
}

function listener(target: ListenerConfig, withToken: boolean, p: Problems): Fields {
  const f: Fields = {
    host: (n, at) => {
      const v = str(n, at, p);
      if (v !== undefined) target.host = v;
    },
    port: (n, at) => {
      const v = int(0, 65535)(n, at, p);
      if (v !== undefined) target.port = v;
    },
  };
  if (withToken) {
    f.token_file = (n, at) => {
      const v = str(n, at, p);
      if (v !== undefined) (target as IngestListenerConfig).tokenFile = v;
    };
  }
  return f;
}

function family(node: Node, path: string, p: Problems): CustomFamilyConfig | undefined {
  const out: Partial<CustomFamilyConfig> = { labels: [] };
  const before = p.list.length;
  fields(
    node,
    path,
    p,
    {
      name: (n, at) => (out.name = str(n, at, p)),
      type: (n, at) => {
        const v = str(n, at, p);
        if (v === 'counter' || v === 'gauge' || v === 'histogram') out.type = v;
        else if (v !== undefined) p.add(n, at, `"${v}" is not a family type; use counter, gauge or histogram`);
      },
      help: (n, at) => {
        out.help = str(n, at, p);
        if (out.help !== undefined && out.help.length > configBounds.helpChars) {
          p.add(n, at, `${out.help.length} characters; at most ${configBounds.helpChars} are allowed: say in one sentence what the family counts`);
          out.help = undefined;
        }
      },
      labels: (n, at) => (out.labels = list(str)(n, at, p)),
      buckets: (n, at) => {
        if (!isSeq(n) || !n.items.every((i) => isScalar(i) && typeof i.value === 'number')) {
          p.add(n, at, 'expected a list of numbers (bucket upper bounds), e.g. [0.1, 0.5, 1, 5]');
          return;
        }
        if (n.items.length > configBounds.listItems) return p.add(n, at, `${n.items.length} buckets; at most ${configBounds.listItems} are allowed`);
        out.buckets = n.items.map((i) => (i as { value: number }).value);
      },
      native: (n, at) => (out.native = nativeSetting(n, at, p)),
    },
    ['name', 'type', 'help'],
  );
  if (p.list.length > before) return undefined;
  const f = out as CustomFamilyConfig;
  if (f.type !== 'histogram' && f.buckets !== undefined) {
    p.add(node, `${path}.buckets`, `only histograms have buckets; remove them or make ${f.name} a histogram`);
    return undefined;
  }
  if (f.type === 'histogram' && f.buckets === undefined) {
    p.add(node, `${path}.buckets`, 'a histogram needs buckets, e.g. [0.1, 0.5, 1, 5]');
    return undefined;
  }
  const problem = familyProblem({ type: f.type, name: f.name, help: f.help, labels: f.labels, buckets: f.buckets, native: f.native });
  if (problem !== undefined) {
    p.add(node, path, problem.message.replace(/\bnative\.(maxBuckets|zeroThreshold)\b/, (_, k: string) => `native.${k === 'maxBuckets' ? 'max_buckets' : 'zero_threshold'}`));
    return undefined;
  }
  return f;
}

/** nativeSetting reads `native: true|false` or `native: {schema, max_buckets, zero_threshold}`; familyProblem checks the ranges. */
function nativeSetting(node: Node, path: string, p: Problems): boolean | NativeHistogramOptions | undefined {
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  const out: { schema?: number; maxBuckets?: number; zeroThreshold?: number } = {};
  const num = (n: Node, at: string) => {
    if (isScalar(n) && typeof n.value === 'number') return n.value;
    p.add(n, at, `expected a number, got ${describe(n)}`);
    return undefined;
  };
  const before = p.list.length;
  if (!isMap(node)) {
    p.add(node, path, `expected true, false or a mapping of schema, max_buckets, zero_threshold, got ${describe(node)}`);
    return undefined;
  }
  fields(node, path, p, {
    schema: (n, at) => (out.schema = num(n, at)),
    max_buckets: (n, at) => (out.maxBuckets = num(n, at)),
    zero_threshold: (n, at) => (out.zeroThreshold = num(n, at)),
  });
  return p.list.length > before ? undefined : out;
}

function probe(node: Node, path: string, p: Problems): ProbeConfig | undefined {
  const out: Partial<ProbeConfig> = { ...defaults.probe };
  const before = p.list.length;
  fields(
    node,
    path,
    p,
    {
      name: (n, at) => (out.name = name(n, at, p)),
      url: (n, at) => {
        const v = str(n, at, p);
        if (v === undefined) return;
        let ok = false;
        try {
          // The URL parser drops CR, LF and tabs silently: refuse them rather than probe a URL nobody wrote.
          ok = ['http:', 'https:'].includes(new URL(v).protocol) && !/[\u0000-\u001f\u007f]/.test(v);
        } catch {
          ok = false;
        }
        if (ok) out.url = v;
        else p.add(n, at, `${JSON.stringify(v)} is not an http(s) URL; write it in full, e.g. http://scraper:8000/health`);
      },
      interval: (n, at) => (out.intervalMs = duration(1000, TIMER_MAX_MS)(n, at, p) ?? out.intervalMs),
      timeout: (n, at) => (out.timeoutMs = duration(10)(n, at, p) ?? out.timeoutMs),
    },
    ['name', 'url'],
  );
  if (p.list.length > before) return undefined;
  if (out.timeoutMs! >= out.intervalMs!) {
    p.add(node, `${path}.timeout`, `must be shorter than the interval (${out.intervalMs! / 1000}s), or probes overlap`);
    return undefined;
  }
  return out as ProbeConfig;
}

/** statsdMapping reads one `statsd.mappings` entry; its family is checked once every family is declared. */
function statsdMapping(node: Node, path: string, p: Problems): StatsdMappingConfig | undefined {
  const out: Partial<StatsdMappingConfig> = { matchType: 'glob', labels: {} };
  const before = p.list.length;
  fields(
    node,
    path,
    p,
    {
      match: (n, at) => (out.match = str(n, at, p)),
      match_type: (n, at) => {
        const v = str(n, at, p);
        if (v === 'glob' || v === 'regex') out.matchType = v;
        else if (v !== undefined) p.add(n, at, `"${v}" is not a match type; use glob (the default, "*" matches one dot-separated part) or regex`);
      },
      family: (n, at) => (out.family = str(n, at, p)),
      labels: (n, at) => {
        if (!isMap(n)) return p.add(n, at, 'expected a mapping of label names to values, e.g. {scraper: "$1", item_type: track}');
        for (const pair of n.items) {
          const k = isScalar(pair.key) ? String(pair.key.value) : '';
          const v = pair.value as Node;
          if (isScalar(v) && (typeof v.value === 'string' || typeof v.value === 'number') && String(v.value) !== '') out.labels![k] = String(v.value);
          else p.add(v ?? n, `${at}.${k}`, `expected a label value or a capture such as "$1", got ${v === null ? 'nothing' : describe(v)}`);
        }
      },
    },
    ['match', 'family'],
  );
  if (p.list.length > before) return undefined;
  const m = out as StatsdMappingConfig;
  let re: RegExp;
  try {
    re = compileMatch(m);
  } catch (err) {
    p.add(node, `${path}.match`, `${(err as Error).message}; write a JavaScript regular expression (it is anchored at both ends)`);
    return undefined;
  }
  const captures = captureNames(re);
  for (const [label, template] of Object.entries(m.labels)) {
    for (const ref of templateRefs(template)) {
      if (!captures.has(ref)) p.add(node, `${path}.labels.${label}`, `"${template}" reads capture ${ref}, but ${m.match} has ${captures.size === 0 ? 'no captures' : `only ${[...captures].join(', ')}`}`);
    }
  }
  return p.list.length > before ? undefined : m;
}

/** statsdMappingFamily checks a mapping's family and labels against the catalog and the declared families. */
function statsdMappingFamily(m: StatsdMappingConfig, node: Node, path: string, families: readonly CustomFamilyConfig[], p: Problems): void {
  const cat = mappableCatalogFamily(m.family);
  const custom = families.find((f) => f.name === m.family);
  if (cat === undefined && custom === undefined) {
    p.add(isMap(node) ? ((node.get('family', true) as Node | undefined) ?? node) : node, `${path}.family`, `"${m.family}" is neither a scraper, pipeline or broker family of the catalog nor declared under "families:"; declare it there or fix the name`);
    return;
  }
  const labels = cat?.labels ?? custom!.labels;
  for (const [label, value] of Object.entries(m.labels)) {
    if (!labels.includes(label)) {
      p.add(node, `${path}.labels.${label}`, `${m.family} has no label "${label}"; its labels are ${labels.join(', ') || '(none)'}`);
      continue;
    }
    const closed = cat?.values?.[label];
    if (closed !== undefined && templateRefs(value).length === 0 && !closed.includes(value)) {
      p.add(node, `${path}.labels.${label}`, `${m.family}'s ${label} is one of ${closed.join(', ')}, got "${value}"`);
    }
  }
}

function statsd(node: Node, path: string, cfg: SidecarConfig, p: Problems, mappingNodes: [Node, string][]): void {
  const s = cfg.statsd;
  fields(node, path, p, {
    enabled: (n, at) => {
      if (isScalar(n) && typeof n.value === 'boolean') s.enabled = n.value;
      else p.add(n, at, `expected true or false, got ${describe(n)}`);
    },
    host: (n, at) => (s.host = str(n, at, p) ?? s.host),
    port: (n, at) => (s.port = int(0, 65535)(n, at, p) ?? s.port),
    max_packet: (n, at) => {
      const v = size(n, at, p);
      if (v !== undefined && v > 65_507) p.add(n, at, 'a UDP datagram holds at most 65507 bytes; give a smaller size');
      else if (v !== undefined) s.maxPacketBytes = v;
    },
    // At least a minute: a series must survive between scrapes, or a counter would restart at 0 while still in use.
    series_ttl: (n, at) => (s.seriesTtlMs = duration(60_000)(n, at, p) ?? s.seriesTtlMs),
    mappings: (n, at) => {
      if (!isSeq(n)) return p.add(n, at, 'expected a list of mappings, each with match and family');
      if (n.items.length > configBounds.entries) return p.add(n, at, `${n.items.length} mappings; at most ${configBounds.entries} are allowed`);
      n.items.forEach((item, i) => {
        const m = statsdMapping(item as Node, `${at}[${i}]`, p);
        if (m === undefined) return;
        s.mappings.push(m);
        mappingNodes.push([item as Node, `${at}[${i}]`]);
      });
    },
  });
}

/** A Redis URL with its password taken out, or a problem. */
function redisUrl(node: Node, path: string, p: Problems): string | undefined {
  const v = str(node, path, p);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    p.add(node, path, `"${v}" is not a URL; write it as redis://host:6379/0`);
    return undefined;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    p.add(node, path, `"${u.protocol}" is not a Redis URL scheme; use redis:// or rediss://`);
    return undefined;
  }
  if (u.password !== '') {
    p.add(node, path, 'the URL holds a password; secrets are read from files only: put it in a file (mode 0600), set password_file, and drop it from the URL');
    return undefined;
  }
  return v;
}

function broker(node: Node, path: string, p: Problems): BrokerConfig | undefined {
  const out: Partial<BrokerConfig> & { prefixSet?: boolean; timeoutSet?: boolean } = {
    intervalMs: defaults.broker.intervalMs,
    timeoutMs: defaults.broker.timeoutMs,
    prioritySteps: [...defaults.broker.prioritySteps],
    separator: defaults.broker.separator,
  };
  const before = p.list.length;
  fields(
    node,
    path,
    p,
    {
      name: (n, at) => (out.name = name(n, at, p)),
      kind: (n, at) => {
        const v = str(n, at, p);
        if ((brokerKinds as readonly string[]).includes(v ?? '')) out.kind = v as BrokerKind;
        else if (v !== undefined) p.add(n, at, `"${v}" is not a broker kind; use one of ${brokerKinds.join(', ')}`);
      },
      url: (n, at) => (out.url = redisUrl(n, at, p)),
      password_file: (n, at) => (out.passwordFile = str(n, at, p)),
      queues: (n, at) => {
        const q = list(str)(n, at, p);
        if (q !== undefined && q.length === 0) p.add(n, at, 'list at least one queue to poll');
        out.queues = q;
      },
      interval: (n, at) => (out.intervalMs = duration(1000, 2 ** 31 - 1)(n, at, p) ?? out.intervalMs),
      timeout: (n, at) => {
        out.timeoutMs = duration(10)(n, at, p) ?? out.timeoutMs;
        out.timeoutSet = true;
      },
      prefix: (n, at) => {
        if (isScalar(n) && typeof n.value === 'string') {
          out.prefix = n.value;
          out.prefixSet = true;
        } else p.add(n, at, `expected a key prefix string, got ${describe(n)}`);
      },
      priority_steps: (n, at) => {
        if (!isSeq(n) || n.items.length === 0 || !n.items.every((i) => isScalar(i) && Number.isInteger(i.value) && (i.value as number) >= 0)) {
          return p.add(n, at, 'expected kombu priority steps, a list of whole numbers such as [0, 3, 6, 9]');
        }
        out.prioritySteps = n.items.map((i) => (i as { value: number }).value);
      },
      separator: (n, at) => (out.separator = str(n, at, p)),
    },
    ['name', 'kind', 'url', 'queues'],
  );
  if (p.list.length > before) return undefined;
  const b = out as BrokerConfig & { prefixSet?: boolean; timeoutSet?: boolean };
  // An unset timeout fits a short interval: half of it at most.
  if (!b.timeoutSet) b.timeoutMs = Math.min(b.timeoutMs, Math.floor(b.intervalMs / 2));
  if (b.kind !== 'celery' && isMap(node) && (node.has('priority_steps') || node.has('separator'))) {
    p.add(node, path, `priority_steps and separator are kombu (celery) settings; remove them from a ${b.kind} broker`);
    return undefined;
  }
  if (b.timeoutMs >= b.intervalMs) {
    p.add(node, `${path}.timeout`, `must be shorter than the interval (${b.intervalMs / 1000}s), or polls overlap`);
    return undefined;
  }
  if (!b.prefixSet) b.prefix = defaults.broker.prefix[b.kind];
  delete b.prefixSet;
  delete b.timeoutSet;
  return b;
}

const CATALOG = 'the pipemeter catalog (docs/metrics.md)';

/** validate walks the parsed document into a config, adding every problem to p. */
function validate(root: Node | null, source: string, p: Problems): SidecarConfig {
  const cfg = configFromDefaults(source);
  if (isEmpty(root)) return cfg;
  const { metrics, ingest } = cfg.listeners;
  const mappingNodes: [Node, string][] = [];
  /** Limits the file sets, where a default depends on whether it was given. */
  const set = new Set<string>();
  fields(root, '', p, {
    listeners: (n, at) =>
      fields(n, at, p, {
        metrics: (m, at2) => fields(m, at2, p, listener(metrics, false, p)),
        ingest: (m, at2) => fields(m, at2, p, listener(ingest, true, p)),
      }),
    scrapers: (n, at) =>
      entries(n, at, p, MAX_HANDLES, (scraper, v, at2) => {
        const s: ScraperConfig = { name: scraper, itemTypes: [], sources: [] };
        if (v !== null)
          fields(v, at2, p, {
            item_types: (m, at3) => (s.itemTypes = list(name)(m, at3, p) ?? []),
            sources: (m, at3) => (s.sources = list(str)(m, at3, p) ?? []),
          });
        cfg.scrapers.push(s);
      }),
    pipelines: (n, at) =>
      entries(n, at, p, MAX_HANDLES, (pipeline, v, at2) => {
        const pl: PipelineConfig = { name: pipeline, stages: [] };
        if (v !== null)
          fields(v, at2, p, {
            stages: (m, at3) => (pl.stages = list(name)(m, at3, p) ?? []),
            firecrawl: (m, at3) => {
              pl.firecrawl = {};
              if (isScalar(m) && m.value === true) return;
              fields(m, at3, p, { secret_file: (s, at4) => (pl.firecrawl!.secretFile = str(s, at4, p)) });
            },
          });
        cfg.pipelines.push(pl);
      }),
    families: (n, at) => {
      // Beside the catalog and the process collectors, and beside each other: no two may write the same sample names.
      const names = new FamilyNames(catalog.map((f) => ({ name: f.name, type: f.type, owner: CATALOG })));
      const readFamily: Reader<CustomFamilyConfig> = (item, at2, p2) => {
        const f = family(item, at2, p2);
        if (f === undefined) return undefined;
        const builtin = BUILTIN_PREFIXES.find((prefix) => f.name.startsWith(prefix));
        const problem = names.collision(f);
        if (builtin !== undefined) p2.add(item, at2, `metric family "${f.name}": names starting with "${builtin}" belong to the default process collectors the sidecar exposes; choose another prefix`);
        else if (problem?.code === 'E_FAMILY_DUPLICATE' && problem.other?.owner !== CATALOG) p2.add(item, `${at2}.name`, `family "${f.name}" is declared twice; keep one`);
        else if (problem !== undefined) p2.add(item, at2, problem.message);
        else {
          names.add({ name: f.name, type: f.type, owner: `${at2} (this file)` });
          return f;
        }
        return undefined;
      };
      namedList(n, at, p, 'expected a list of families, each with name, type and help', readFamily, cfg.families, (name) => `family "${name}" is declared twice; keep one`);
    },
    probes: (n, at) =>
      namedList(n, at, p, 'expected a list of probes, each with name and url', probe, cfg.probes, (name) => `probe "${name}" is declared twice; names are the target label and must be unique`),
    limits: (n, at) =>
      fields(n, at, p, {
        body_size: (m, a) => {
          const v = size(m, a, p);
          // The body is held in memory whole while it is read: past 1 GiB one request could take the heap.
          if (v !== undefined && v > 1024 ** 3) p.add(m, a, 'at most 1GiB; send larger data as several batches');
          else cfg.limits.bodyBytes = v ?? cfg.limits.bodyBytes;
        },
        max_series: (m, a) => (cfg.limits.maxSeries = int(1)(m, a, p) ?? cfg.limits.maxSeries),
        jobs: (m, a) => (cfg.limits.jobs = int(1)(m, a, p) ?? cfg.limits.jobs),
        job_ttl: (m, a) => (cfg.limits.jobTtlMs = duration(1000)(m, a, p) ?? cfg.limits.jobTtlMs),
        series_ttl: (m, a) => (cfg.limits.seriesTtlMs = duration(1000)(m, a, p) ?? cfg.limits.seriesTtlMs),
        dedup_keys: (m, a) => (cfg.limits.dedupKeys = int(1)(m, a, p) ?? cfg.limits.dedupKeys),
        sweep_interval: (m, a) => (cfg.limits.sweepIntervalMs = duration(100, TIMER_MAX_MS)(m, a, p) ?? cfg.limits.sweepIntervalMs),
        rate: (m, a) =>
          fields(m, a, p, {
            per_second: (r, b) => (cfg.limits.rate.perSecond = positive(r, b, p) ?? cfg.limits.rate.perSecond),
            burst: (r, b) => (cfg.limits.rate.burst = int(1)(r, b, p) ?? cfg.limits.rate.burst),
            max_clients: (r, b) => (cfg.limits.rate.maxClients = int(1, 10_000_000)(r, b, p) ?? cfg.limits.rate.maxClients),
          }),
        max_scrapers: (m, a) => (cfg.limits.maxScrapers = int(1, MAX_HANDLES)(m, a, p) ?? cfg.limits.maxScrapers),
        max_pipelines: (m, a) => (cfg.limits.maxPipelines = int(1, MAX_HANDLES)(m, a, p) ?? cfg.limits.maxPipelines),
        body_timeout: (m, a) => (cfg.limits.bodyTimeoutMs = duration(100, TIMER_MAX_MS)(m, a, p) ?? cfg.limits.bodyTimeoutMs),
        in_flight: (m, a) => {
          set.add('in_flight');
          cfg.limits.inFlightBytes = size(m, a, p) ?? cfg.limits.inFlightBytes;
        },
        in_flight_per_address: (m, a) => {
          set.add('in_flight_per_address');
          cfg.limits.inFlightBytesPerAddress = size(m, a, p) ?? cfg.limits.inFlightBytesPerAddress;
        },
        connections: (m, a) => {
          const c = cfg.limits.connections;
          fields(m, a, p, {
            metrics: (r, b) => (c.metrics = int(1, 1_000_000)(r, b, p) ?? c.metrics),
            metrics_per_address: (r, b) => (c.metricsPerAddress = int(1, 1_000_000)(r, b, p) ?? c.metricsPerAddress),
            ingest: (r, b) => (c.ingest = int(1, 1_000_000)(r, b, p) ?? c.ingest),
            ingest_per_address: (r, b) => (c.ingestPerAddress = int(1, 1_000_000)(r, b, p) ?? c.ingestPerAddress),
            idle_timeout: (r, b) => (c.idleTimeoutMs = duration(100, TIMER_MAX_MS)(r, b, p) ?? c.idleTimeoutMs),
            header_timeout: (r, b) => (c.headersTimeoutMs = duration(100, TIMER_MAX_MS)(r, b, p) ?? c.headersTimeoutMs),
          });
        },
      }),
    statsd: (n, at) => statsd(n, at, cfg, p, mappingNodes),
    brokers: (n, at) =>
      namedList(n, at, p, 'expected a list of brokers, each with name, kind, url and queues', broker, cfg.brokers, (name) => `broker "${name}" is declared twice; names are the broker label and must be unique`, configBounds.brokers),
    state: (n, at) =>
      fields(n, at, p, {
        file: (m, a) => (cfg.state.file = str(m, a, p)),
        snapshot_interval: (m, a) => (cfg.state.snapshotIntervalMs = duration(100, TIMER_MAX_MS)(m, a, p) ?? cfg.state.snapshotIntervalMs),
      }),
  });
  cfg.statsd.mappings.forEach((m, i) => statsdMappingFamily(m, mappingNodes[i]![0], mappingNodes[i]![1], cfg.families, p));
  const l = cfg.limits;
  // Declared names keep handles of their own: they must fit under the handle caps, or they would start folded.
  if (cfg.scrapers.length > l.maxScrapers) p.add(root, 'scrapers', `${cfg.scrapers.length} scrapers are declared but limits.max_scrapers is ${l.maxScrapers}; raise it or declare fewer`);
  if (cfg.pipelines.length > l.maxPipelines) p.add(root, 'pipelines', `${cfg.pipelines.length} pipelines are declared but limits.max_pipelines is ${l.maxPipelines}; raise it or declare fewer`);
  // Left unset, the bytes in flight make room for one body of limits.body_size; set, they must.
  if (!set.has('in_flight_per_address')) l.inFlightBytesPerAddress = Math.max(l.inFlightBytesPerAddress, l.bodyBytes);
  if (!set.has('in_flight')) l.inFlightBytes = Math.max(l.inFlightBytes, l.inFlightBytesPerAddress);
  if (l.inFlightBytesPerAddress > l.inFlightBytes) p.add(root, 'limits.in_flight_per_address', `is over limits.in_flight (${l.inFlightBytes} bytes); one address cannot hold more than all of them`);
  if (l.bodyBytes > l.inFlightBytesPerAddress) p.add(root, 'limits.body_size', `is over limits.in_flight_per_address (${l.inFlightBytesPerAddress} bytes), so a body of that size could never be read; raise the one or lower the other`);
  const c = l.connections;
  if (c.metricsPerAddress > c.metrics) p.add(root, 'limits.connections.metrics_per_address', `is over limits.connections.metrics (${c.metrics})`);
  if (c.ingestPerAddress > c.ingest) p.add(root, 'limits.connections.ingest_per_address', `is over limits.connections.ingest (${c.ingest})`);
  if (cfg.listeners.metrics.port !== 0 && cfg.listeners.metrics.port === cfg.listeners.ingest.port) {
    p.add(root, 'listeners', `metrics and ingest both use port ${cfg.listeners.metrics.port}; give them different ports`);
  }
  return cfg;
}

/**
 * loadConfig parses and validates a sidecar config. Every problem is collected and thrown at once
 * as one E_CONFIG error, one line each: `file:line:col: field.path: what is wrong, how to fix`.
 */
export function loadConfig(text: string, file: string): SidecarConfig {
  if (text.length > configBounds.fileBytes) {
    throw new PipemeterError('E_CONFIG', `${file}: the config holds ${text.length} characters, over the ${configBounds.fileBytes} a config may have; declare fewer entries (names that are not declared need no entry)`);
  }
  const { root, problems } = parseYaml(text, file);
  const cfg = problems.list.length === 0 ? validate(root, file, problems) : configFromDefaults(file);
  problems.throwIfAny('E_CONFIG', 'configuration');
  return cfg;
}

/** resolvePaths makes the config's relative file paths (token, secrets, state) relative to baseDir, the config file's directory. */
export function resolvePaths(cfg: SidecarConfig, baseDir: string): SidecarConfig {
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...cfg,
    listeners: { ...cfg.listeners, ingest: { ...cfg.listeners.ingest, tokenFile: abs(cfg.listeners.ingest.tokenFile) } },
    pipelines: cfg.pipelines.map((p) => (p.firecrawl === undefined ? p : { ...p, firecrawl: { secretFile: abs(p.firecrawl.secretFile) } })),
    state: { ...cfg.state, file: abs(cfg.state.file) },
    brokers: cfg.brokers.map((b) => (b.passwordFile === undefined ? b : { ...b, passwordFile: abs(b.passwordFile) })),
  };
}
