/** Family definitions: the plain data every other layer reads (meter, exposition, rules, dashboards, docs). */

export const metricTypes = ['counter', 'gauge', 'histogram'] as const;
export type MetricType = (typeof metricTypes)[number];

/** Base units as OpenMetrics names them; the family name ends with `_<unit>` (before `_total`). */
export const metricUnits = ['seconds', 'bytes', 'ratio'] as const;
export type MetricUnit = (typeof metricUnits)[number];

/**
 * Who emits a family, so generators and `check` know which families a target of a kind should have.
 * `custom` is a family a user declares at run time; it is never in the catalog.
 */
export type FamilyDomain = 'scraper' | 'pipeline' | 'http' | 'self' | 'sidecar' | 'probe' | 'broker' | 'cluster' | 'custom';

/**
 * How a cluster primary merges one gauge that several workers set (counters are summed and histograms merged bucket by
 * bucket, always): the sum, the largest or the smallest of the live workers' values, or one series per worker with a
 * `worker` label. A worker that exits takes its value with it.
 */
export const gaugeAggregates = ['sum', 'max', 'min', 'per-worker'] as const;
export type GaugeAggregate = (typeof gaugeAggregates)[number];

export interface FamilyDef<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labels: readonly L[];
  readonly domain: FamilyDomain;
  readonly unit?: MetricUnit;
  /** Upper bounds of histogram buckets, ascending, without +Inf. */
  readonly buckets?: readonly number[];
  /** Closed sets of label values; these series start at 0 for every bound owner (scraper, pipeline). */
  readonly values?: { readonly [K in L]?: readonly string[] };
  /** Gauges only: how a cluster primary merges the workers' values; default sum. */
  readonly aggregate?: GaugeAggregate;
  /**
   * Histograms only: also keep native (sparse, exponential) buckets, which Prometheus ingests from the protobuf
   * exposition when its native-histograms feature is on. `true` takes the defaults; the classic buckets stay.
   */
  readonly native?: boolean | NativeHistogramOptions;
}

/** A native histogram's settings; each left out takes client_golang's default (see NATIVE_DEFAULTS). */
export interface NativeHistogramOptions {
  /** Resolution: every power of two is split into 2^schema buckets, -4..8; default 3 (a factor of 2^(1/8) ≈ 1.09 per bucket). */
  readonly schema?: number;
  /** Populated buckets a series may hold before it halves its resolution, 1..1000; default 160. */
  readonly maxBuckets?: number;
  /** Observations with an absolute value up to this count in the zero bucket; default 2^-128. */
  readonly zeroThreshold?: number;
}

/** client_golang's defaults: a bucket factor of 1.1 (schema 3), 160 buckets, a zero threshold of 2^-128. */
export const NATIVE_DEFAULTS: Required<NativeHistogramOptions> = { schema: 3, maxBuckets: 160, zeroThreshold: 2 ** -128 };

type Def<L extends string> = Omit<FamilyDef<L>, 'type'>;

export function counter<const L extends string>(def: Def<L>): FamilyDef<L> & { type: 'counter' } {
  return { ...def, type: 'counter' };
}

export function gauge<const L extends string>(def: Def<L>): FamilyDef<L> & { type: 'gauge' } {
  return { ...def, type: 'gauge' };
}

export function histogram<const L extends string>(
  def: Def<L> & { buckets: readonly number[] },
): FamilyDef<L> & { type: 'histogram'; buckets: readonly number[] } {
  return { ...def, type: 'histogram' };
}
