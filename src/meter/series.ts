/** Series cells: the mutable numbers a bound handle writes to and the renderer reads. */

export interface Exemplar {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** Unix seconds. */
  readonly timestamp: number;
}

interface SeriesBase {
  readonly labelValues: readonly string[];
  /** Set on every write; cleared by an expiry sweep. Cheaper on the hot path than reading a clock. */
  dirty: boolean;
  /** Milliseconds of the sweep that last found the series written. */
  lastSeen: number;
  /** A handle was handed out for this series: it never expires, or the handle would write into a detached cell. */
  pinned: boolean;
}

export interface CounterSeries extends SeriesBase {
  readonly kind: 'counter';
  value: number;
  exemplar: Exemplar | undefined;
}

export interface GaugeSeries extends SeriesBase {
  readonly kind: 'gauge';
  value: number;
}

export interface HistogramSeries extends SeriesBase {
  readonly kind: 'histogram';
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  /** A plain array: small integers stay Smis, which render to text faster than doubles. */
  readonly counts: number[];
  sum: number;
  count: number;
  /** One exemplar per bucket slot, the latest. */
  readonly exemplars: (Exemplar | undefined)[];
}

export type Series = CounterSeries | GaugeSeries | HistogramSeries;

function base(labelValues: readonly string[]) {
  return { labelValues, dirty: true, lastSeen: 0, pinned: false };
}

export function newCounterSeries(labelValues: readonly string[]): CounterSeries {
  return { kind: 'counter', ...base(labelValues), value: 0, exemplar: undefined };
}

export function newGaugeSeries(labelValues: readonly string[]): GaugeSeries {
  return { kind: 'gauge', ...base(labelValues), value: 0 };
}

export function newHistogramSeries(labelValues: readonly string[], bucketCount: number): HistogramSeries {
  return {
    kind: 'histogram',
    ...base(labelValues),
    counts: new Array<number>(bucketCount + 1).fill(0),
    sum: 0,
    count: 0,
    exemplars: new Array<Exemplar | undefined>(bucketCount + 1).fill(undefined),
  };
}

/** bucketIndex returns the slot of the first upper bound >= v (the +Inf slot when none is). */
export function bucketIndex(upperBounds: Float64Array, v: number): number {
  const n = upperBounds.length;
  let i = 0;
  while (i < n && v > upperBounds[i]!) i++;
  return i;
}
