/** A family at run time: its series table, the series cap with its overflow series, expiry, and bound handles. */
import type { FamilyDef, NativeHistogramOptions } from '../catalog/index.js';
import type { InstrumentationErrorReason } from './errors.js';
import { type NativeSpec, classicIndex, nativeSpec, observeNative } from './native.js';
import {
  type CounterSeries,
  type Exemplar,
  type GaugeSeries,
  type HistogramSeries,
  type Series,
  bucketIndex,
  newCounterSeries,
  newGaugeSeries,
  newHistogramSeries,
} from './series.js';

/** The label value every label of an overflow series carries. */
export const OVERFLOW = '__overflow__';

/** A UTF-16 surrogate without its other half (String.isWellFormed is ES2024). */
export const loneSurrogateRe = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** OpenMetrics caps an exemplar's label set at 128 UTF-8 characters (names and values). */
export const EXEMPLAR_MAX_CHARS = 128;

/** What a family reports back to its meter: ignored calls and folded series. */
export interface FamilyContext {
  error(reason: InstrumentationErrorReason): void;
  overflow(family: string): void;
  /** A native histogram series of this family lowered its resolution (reached its bucket limit). */
  nativeReduced(family: string): void;
}

export type LabelSet<L extends string> = { readonly [K in L]: string };

/** A level of the series tree: label value -> next level, or -> series at the last label. */
type Index = Map<string, Index | Series>;

/** exemplarOf builds an exemplar, or undefined when its labels exceed the OpenMetrics limit. */
export function exemplarOf(labels: Readonly<Record<string, string>>, value: number): Exemplar | undefined {
  let chars = 0;
  for (const k in labels) chars += k.length + labels[k]!.length;
  if (chars > EXEMPLAR_MAX_CHARS) return undefined;
  return { labels, value, timestamp: Date.now() / 1000 };
}

export class MetricFamily<L extends string = string> {
  readonly def: FamilyDef<L>;
  readonly name: string;
  readonly labelNames: readonly L[];
  readonly upperBounds: Float64Array;
  /** Native bucket settings of a histogram family that keeps native buckets too; undefined otherwise. */
  readonly native: NativeSpec | undefined;
  readonly maxSeries: number;
  /** Every series in creation order: what the renderer and expiry walk (a Set: no key string per series). */
  readonly series = new Set<Series>();
  /** The same series as a tree keyed by one label value per level: what recording looks up. */
  private readonly index: Index = new Map();
  overflowSeries: Series | undefined;
  /** `# HELP`/`# TYPE` header lines, filled lazily by the renderer. */
  rendered: Record<string, string> = {};
  readonly ctx: FamilyContext;

  constructor(
    def: FamilyDef<L>,
    opts: { maxSeries: number; buckets?: readonly number[]; native?: boolean | NativeHistogramOptions },
    ctx: FamilyContext,
  ) {
    this.def = def;
    this.name = def.name;
    this.labelNames = def.labels;
    this.maxSeries = opts.maxSeries;
    this.upperBounds = Float64Array.from(opts.buckets ?? def.buckets ?? []);
    this.native = def.type === 'histogram' ? nativeSpec(opts.native ?? def.native, this.upperBounds, () => ctx.nativeReduced(def.name)) : undefined;
    this.ctx = ctx;
  }

  private make(values: readonly string[]): Series {
    switch (this.def.type) {
      case 'counter':
        return newCounterSeries(values);
      case 'gauge':
        return newGaugeSeries(values);
      case 'histogram':
        return newHistogramSeries(values, this.upperBounds.length, this.native);
    }
  }

  /**
   * seriesFor returns the series of these label values (in label order), creating it, or the
   * overflow series past the cap. `pin` keeps it from expiry: zero-initialised series must stay.
   */
  seriesFor(values: readonly string[], pin = false): Series {
    let s = this.lookup(values);
    if (s !== undefined) {
      if (pin) s.pinned = true;
      return s;
    }
    if (this.series.size >= this.maxSeries) {
      this.ctx.overflow(this.name);
      return this.overflow();
    }
    s = this.make(values);
    s.pinned = pin;
    this.series.add(s);
    let node = this.index;
    for (let i = 0; i < values.length - 1; i++) {
      let next = node.get(values[i]!) as Index | undefined;
      if (next === undefined) node.set(values[i]!, (next = new Map()));
      node = next;
    }
    node.set(values[values.length - 1] ?? '', s);
    return s;
  }

  /** overflow returns the overflow series, creating it; nothing is counted: a write into it counts the fold. */
  overflow(): Series {
    return (this.overflowSeries ??= this.make(this.labelNames.map(() => OVERFLOW)));
  }

  /**
   * bindable returns the series a handle binds to (pinned): the existing one, or a new one under the cap. Past the cap
   * it is undefined and nothing is counted: binding records nothing, the handle's writes count their folds.
   */
  bindable(values: readonly string[]): Series | undefined {
    const s = this.lookup(values);
    if (s !== undefined) {
      s.pinned = true;
      return s;
    }
    return this.series.size < this.maxSeries ? this.seriesFor(values, true) : undefined;
  }

  /**
   * zero starts the series of these label values at 0 and keeps it from expiry, so `rate()` and absence alerts see it
   * from the first scrape. Past the cap it does nothing: no value was recorded, so nothing is folded or counted.
   */
  zero(values: readonly string[]): void {
    this.bindable(values);
  }

  /** valuesOf reads a label object into label values in label order; undefined (and counted) when one is not a string. */
  valuesOf(labels: LabelSet<L> | undefined): string[] | undefined {
    if (this.labelNames.length > 0 && (labels === null || typeof labels !== 'object')) return this.invalid();
    const names = this.labelNames;
    const values = new Array<string>(names.length);
    for (let i = 0; i < names.length; i++) {
      const v = labels![names[i]!];
      if (typeof v !== 'string' || loneSurrogateRe.test(v)) return this.invalid();
      values[i] = v;
    }
    return values;
  }

  private lookup(values: readonly string[]): Series | undefined {
    let node = this.index;
    for (let i = 0; i < values.length - 1; i++) {
      const next = node.get(values[i]!) as Index | undefined;
      if (next === undefined) return undefined;
      node = next;
    }
    return node.get(values[values.length - 1] ?? '') as Series | undefined;
  }

  /**
   * seriesOf resolves a label object; undefined (and counted) when a label is missing or not a string.
   * The hot path: one Map.get per label on interned strings, no key string built.
   */
  seriesOf(labels: LabelSet<L> | undefined, create = true): Series | undefined {
    const names = this.labelNames;
    const n = names.length;
    if (n === 0) return create ? this.seriesFor(names as readonly string[]) : undefined;
    if (labels === null || typeof labels !== 'object') return create ? this.invalid() : undefined;
    let node = this.index;
    for (let i = 0; i < n - 1; i++) {
      const v = labels[names[i]!];
      if (typeof v !== 'string') return create ? this.invalid() : undefined;
      const next = node.get(v) as Index | undefined;
      if (next === undefined) return create ? this.create(labels) : undefined;
      node = next;
    }
    const v = labels[names[n - 1]!];
    if (typeof v !== 'string') return create ? this.invalid() : undefined;
    const s = node.get(v) as Series | undefined;
    return s !== undefined || !create ? s : this.create(labels);
  }


  private create(labels: LabelSet<L>): Series | undefined {
    // valuesOf sizes the array up front (a pushed-to array keeps spare capacity, which every series would carry) and
    // refuses a lone surrogate: it has no UTF-8 form, and rendered as U+FFFD two such values would be one duplicated series.
    const values = this.valuesOf(labels);
    return values === undefined ? undefined : this.seriesFor(values);
  }

  private invalid(): undefined {
    this.ctx.error('invalid_labels');
    return undefined;
  }

  /** remove drops the series of these label values, if it exists. */
  remove(values: readonly string[]): boolean {
    const s = this.lookup(values);
    if (s === undefined || !this.series.delete(s)) return false;
    const path: Index[] = [this.index];
    for (let i = 0; i < values.length - 1; i++) path.push(path[i]!.get(values[i]!) as Index);
    path[path.length - 1]!.delete(values[values.length - 1] ?? '');
    // Prune maps left empty so a churn of label values does not leave a trail of them.
    for (let i = path.length - 1; i > 0 && path[i]!.size === 0; i--) path[i - 1]!.delete(values[i - 1]!);
    return true;
  }

  /**
   * expireIdle drops series not written for ttlMs, checked at each call; pinned series stay, and so do those `hold`
   * keeps (a cluster worker's series whose last changes its primary has not received yet). Returns how many went.
   */
  expireIdle(nowMs: number, ttlMs: number, hold?: (s: Series) => boolean): number {
    // pipemeter's own families count what was dropped; expiring them would hide exactly that.
    if (this.def.domain === 'self' || this.def.domain === 'cluster') return 0;
    let dropped = 0;
    for (const s of this.series.values()) {
      if (s.dirty) {
        s.dirty = false;
        s.lastSeen = nowMs;
      } else if (!s.pinned && nowMs - s.lastSeen >= ttlMs && (hold === undefined || !hold(s))) {
        this.remove(s.labelValues);
        dropped++;
      }
    }
    return dropped;
  }
}

/**
 * incCounter adds n to a counter series; a negative, non-finite or non-number n is ignored and counted, and so is one
 * that would carry the counter to +Inf: a counter's value is never infinite.
 */
export function incCounter(s: CounterSeries, n: number, ctx: FamilyContext, exemplar?: Readonly<Record<string, string>>): void {
  if (typeof n === 'number' && n >= 0 && s.value + n < Infinity) {
    s.value += n;
    s.dirty = true;
    if (exemplar !== undefined) s.exemplar = exemplarOf(exemplar, n) ?? s.exemplar;
  } else {
    ctx.error(typeof n === 'number' && n < 0 ? 'negative_increment' : 'invalid_value');
  }
}

export function setGauge(s: GaugeSeries, v: number, ctx: FamilyContext): void {
  if (typeof v === 'number' && v === v) {
    s.value = v;
    s.dirty = true;
  } else ctx.error('invalid_value');
}

/** addGauge moves a gauge by a finite n; a move that would overflow a finite value to +-Inf is ignored and counted. */
export function addGauge(s: GaugeSeries, n: number, ctx: FamilyContext): void {
  if (typeof n === 'number' && n > -Infinity && n < Infinity && (Number.isFinite(s.value + n) || !Number.isFinite(s.value))) {
    s.value += n;
    s.dirty = true;
  } else ctx.error('invalid_value');
}

/** observeHistogram records v; NaN, non-number and +-Infinity are ignored and counted, and so is a v that would make the sum infinite. */
export function observeHistogram(
  s: HistogramSeries,
  upperBounds: Float64Array,
  v: number,
  ctx: FamilyContext,
  exemplar?: Readonly<Record<string, string>>,
): void {
  if (typeof v !== 'number' || !(v > -Infinity && v < Infinity) || !Number.isFinite(s.sum + v)) {
    ctx.error('invalid_value');
    return;
  }
  // With native buckets, the native key shortens the search for the classic bucket (see NativeSpec.classicStart).
  const n = s.native;
  const i = n === undefined ? bucketIndex(upperBounds, v) : classicIndex(n, observeNative(n, v), v, upperBounds);
  s.counts[i]!++;
  s.sum += v;
  s.count++;
  s.dirty = true;
  if (exemplar !== undefined) s.exemplars[i] = exemplarOf(exemplar, v) ?? s.exemplars[i];
}
