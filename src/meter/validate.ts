/** The rules a family declaration must pass, as one pure function: the meter and the sidecar config both ask it. */
import { type FamilyDef, type GaugeAggregate, type MetricType, type MetricUnit, type NativeHistogramOptions, gaugeAggregates, idLikeLabel } from '../catalog/index.js';
import { nativeProblem } from './native.js';

/** A family as declared by a user: in code (meter.counter()) or in the sidecar config (`families:`). */
export interface FamilyDeclaration {
  type: MetricType;
  name: unknown;
  help: unknown;
  labels?: readonly unknown[];
  buckets?: readonly unknown[];
  unit?: MetricUnit;
  /** Gauges only: how a cluster primary merges the workers' values. */
  aggregate?: unknown;
  /** Histograms: native buckets too (`true` or their options). */
  native?: unknown;
}

export interface FamilyProblem {
  code: 'E_FAMILY_NAME' | 'E_FAMILY_HELP' | 'E_FAMILY_LABEL' | 'E_FAMILY_BUCKETS' | 'E_FAMILY_AGGREGATE' | 'E_FAMILY_NATIVE' | 'E_FAMILY_DUPLICATE' | 'E_FAMILY_COLLISION';
  message: string;
  /** The family it collides with, for a duplicate or a collision. */
  other?: ExposedFamily;
}

const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** familyProblem returns the first rule a declaration breaks, with the fix in its message; undefined when it is valid. */
export function familyProblem(d: FamilyDeclaration): FamilyProblem | undefined {
  const { type, name } = d;
  const problem = (code: FamilyProblem['code'], message: string): FamilyProblem => ({ code, message });
  if (typeof name !== 'string' || !metricNameRe.test(name)) {
    return problem('E_FAMILY_NAME', `metric name "${String(name)}" is not valid; use letters, digits and underscores, e.g. "cache_hits_total"`);
  }
  if (name.startsWith('__')) {
    return problem('E_FAMILY_NAME', `metric name "${name}": names starting with "__" are reserved for Prometheus's own use; drop the leading underscores`);
  }
  if (type === 'counter' && !name.endsWith('_total')) {
    return problem('E_FAMILY_NAME', `counter "${name}": counter names end in "_total"; name it "${name}_total"`);
  }
  if (type !== 'counter' && name.endsWith('_total')) {
    return problem('E_FAMILY_NAME', `${type} "${name}": only counter names end in "_total"; drop the suffix or make it a counter`);
  }
  if (typeof d.help !== 'string' || d.help.trim() === '') {
    return problem('E_FAMILY_HELP', `${name}: help is empty; say in one sentence what the family counts`);
  }
  const seen = new Set<string>();
  for (const l of d.labels ?? []) {
    if (typeof l !== 'string' || !labelNameRe.test(l) || l.startsWith('__')) {
      return problem('E_FAMILY_LABEL', `${name}: label name "${String(l)}" is not valid; use letters, digits and underscores, not starting with "__"`);
    }
    if (idLikeLabel.test(l)) {
      return problem('E_FAMILY_LABEL', `${name}: label "${l}" looks like an id, URL or timestamp and would make the series count unbounded; attach ids as exemplars and reduce URLs to their host`);
    }
    if (type === 'histogram' && (l === 'le' || l === 'quantile')) {
      return problem('E_FAMILY_LABEL', `${name}: label "${l}" is reserved for histogram buckets; rename it`);
    }
    if (seen.has(l)) return problem('E_FAMILY_LABEL', `${name}: label "${l}" is listed twice`);
    seen.add(l);
  }
  if (type === 'histogram') {
    const b = d.buckets;
    // Required, with no default layout: bounds are a judgement about the values' range in the family's unit, and
    // no one layout fits seconds, bytes and counts (prom-client's default, 5 ms .. 10 s, misleads for anything else).
    if (b === undefined) {
      return problem(
        'E_FAMILY_BUCKETS',
        `histogram "${name}": buckets are required: give the upper bounds in the family's unit, in increasing order, e.g. buckets: [0.1, 0.5, 1, 5], ` +
          'or a layout of the catalog such as catalog.stageSeconds (10 ms .. 1 h) or catalog.jobSeconds (1 s .. 4 h)',
      );
    }
    if (!Array.isArray(b) || b.length === 0 || b.some((x, i) => typeof x !== 'number' || !Number.isFinite(x) || (i > 0 && x <= (b[i - 1] as number)))) {
      return problem('E_FAMILY_BUCKETS', `histogram "${name}": buckets must be finite upper bounds in increasing order, e.g. [0.1, 0.5, 1, 5]`);
    }
  }
  if (d.aggregate !== undefined) {
    if (type !== 'gauge') {
      return problem('E_FAMILY_AGGREGATE', `${type} "${name}": aggregate applies to gauges; a cluster primary always sums counters and merges histograms bucket by bucket, so drop it`);
    }
    if (!(gaugeAggregates as readonly unknown[]).includes(d.aggregate)) {
      return problem('E_FAMILY_AGGREGATE', `gauge "${name}": aggregate "${String(d.aggregate)}" is not one of ${gaugeAggregates.join(', ')}`);
    }
    if (d.aggregate === 'per-worker' && seen.has('worker')) {
      return problem('E_FAMILY_AGGREGATE', `gauge "${name}": aggregate "per-worker" adds a "worker" label in the primary, and the gauge already has one; rename the label`);
    }
  }
  if (d.native !== undefined && type !== 'histogram') {
    return problem('E_FAMILY_NATIVE', `${type} "${name}": only histograms have native buckets; remove native or make it a histogram`);
  }
  const native = nativeProblem(d.native);
  if (native !== undefined) return problem('E_FAMILY_NATIVE', `histogram "${name}": ${native}`);
  return undefined;
}

/** familyDef builds the definition of a valid declaration; call familyProblem first. */
export function familyDef<L extends string>(
  d: FamilyDeclaration & { name: string; help: string; labels?: readonly L[]; buckets?: readonly number[]; aggregate?: GaugeAggregate; native?: boolean | NativeHistogramOptions },
): FamilyDef<L> {
  let def: FamilyDef<L> = { name: d.name, help: d.help, type: d.type, labels: d.labels ?? [], domain: 'custom', unit: d.unit, buckets: d.buckets };
  if (d.aggregate !== undefined) def = { ...def, aggregate: d.aggregate };
  if (d.native !== undefined) def = { ...def, native: d.native };
  return def;
}

/** The prefixes of prom-client's default process collectors (`process_cpu_seconds_total`, `nodejs_heap_size_total_bytes`, ...), which a meter exposes by default. */
export const BUILTIN_PREFIXES = ['process_', 'nodejs_'] as const;

/** A family already exposed, for the collision check: its name, its type, and who declared it (for the message). */
export interface ExposedFamily {
  name: string;
  type: string;
  owner: string;
}

/** The sample-name suffixes the exposition formats give a family: a histogram's, a counter's, OpenMetrics' created and info. */
const SUFFIXES = ['_total', '_count', '_sum', '_bucket', '_created', '_info'] as const;

/** baseName is a family's name in OpenMetrics: a counter without its `_total`. */
function baseName(name: string, type: string): string {
  return type === 'counter' && name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
}

/**
 * FamilyNames holds the families already exposed beside each other (built-in, catalog, custom) and finds a new one that
 * collides: two families whose names or `_total`/`_count`/`_sum`/`_bucket`/`_created`/`_info` forms meet would write the
 * same sample names, or one OpenMetrics family twice; promtool refuses that, and Prometheus keeps only one of the values.
 */
export class FamilyNames {
  /** By name as declared, and by OpenMetrics family name. */
  private readonly byName = new Map<string, ExposedFamily>();
  private readonly byBase = new Map<string, ExposedFamily>();

  constructor(families: Iterable<ExposedFamily> = []) {
    for (const f of families) this.add(f);
  }

  add(f: ExposedFamily): void {
    this.byName.set(f.name, f);
    this.byBase.set(baseName(f.name, f.type), f);
  }

  /** collision returns the problem with this family beside the others, or undefined when it may join them. */
  collision(d: { name: string; type: string }): FamilyProblem | undefined {
    const same = this.byName.get(d.name);
    if (same !== undefined) {
      return { code: 'E_FAMILY_DUPLICATE', message: `metric family "${d.name}" is already registered by ${same.owner}; use that one, or choose another name`, other: same };
    }
    const mine = baseName(d.name, d.type);
    const found = (other: ExposedFamily | undefined, how: string): FamilyProblem | undefined =>
      other === undefined
        ? undefined
        : {
            code: 'E_FAMILY_COLLISION',
            other,
            message: `metric family "${d.name}" (${d.type}) collides with ${other.type} "${other.name}" of ${other.owner}: ${how}, so the exposition would hold the same sample names or OpenMetrics family twice and Prometheus would keep only one; choose another name`,
          };
    let p = found(this.byBase.get(mine), 'both are the same OpenMetrics family');
    for (const sfx of SUFFIXES) {
      p ??= found(this.byBase.get(mine + sfx), `its "${sfx}" samples are the other's name`);
      if (mine.endsWith(sfx)) p ??= found(this.byBase.get(mine.slice(0, -sfx.length)), `its name is the other's "${sfx}" samples`);
    }
    return p;
  }
}
