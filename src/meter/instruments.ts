/** Custom families as users see them: record by label values, or bind a label set once and record on the handle. */
import {
  type FamilyContext,
  type LabelSet,
  type MetricFamily,
  addGauge,
  incCounter,
  observeHistogram,
  setGauge,
} from './family.js';
import {
  type CounterSeries,
  type GaugeSeries,
  type HistogramSeries,
  newCounterSeries,
  newGaugeSeries,
  newHistogramSeries,
} from './series.js';

export type ExemplarLabels = Readonly<Record<string, string>>;

/**
 * BoundCounter holds its series cell: inc() is a field update, not a label lookup. A handle bound past the family's
 * series cap is a Folding one (below): it holds the overflow series, and each write through it is a fold, counted.
 */
export class BoundCounter {
  constructor(
    readonly series: CounterSeries,
    protected readonly ctx: FamilyContext,
  ) {}
  inc(n = 1, exemplar?: ExemplarLabels): void {
    incCounter(this.series, n, this.ctx, exemplar);
  }
  get value(): number {
    return this.series.value;
  }
}

export class BoundGauge {
  constructor(
    readonly series: GaugeSeries,
    protected readonly ctx: FamilyContext,
  ) {}
  set(v: number): void {
    setGauge(this.series, v, this.ctx);
  }
  inc(n = 1): void {
    addGauge(this.series, n, this.ctx);
  }
  dec(n = 1): void {
    this.inc(-n);
  }
  setToCurrentTime(): void {
    this.set(Date.now() / 1000);
  }
  get value(): number {
    return this.series.value;
  }
}

export class BoundHistogram {
  constructor(
    readonly series: HistogramSeries,
    private readonly upperBounds: Float64Array,
    protected readonly ctx: FamilyContext,
  ) {}
  observe(v: number, exemplar?: ExemplarLabels): void {
    observeHistogram(this.series, this.upperBounds, v, this.ctx, exemplar);
  }
  /** startTimer returns a function that observes the seconds elapsed since, and returns them. */
  startTimer(): (exemplar?: ExemplarLabels) => number {
    const t0 = performance.now();
    return (exemplar) => {
      const s = (performance.now() - t0) / 1000;
      this.observe(s, exemplar);
      return s;
    };
  }
}

/**
 * The handles of a family's overflow series, what a name past a cap records through: each write is a fold, counted in
 * `pipemeter_series_overflow_total` under `folds` (the family's name). Subclasses, so the other handles' writes carry
 * no check for it.
 */
class FoldingBoundCounter extends BoundCounter {
  constructor(
    series: CounterSeries,
    ctx: FamilyContext,
    private readonly folds: string,
  ) {
    super(series, ctx);
  }
  override inc(n = 1, exemplar?: ExemplarLabels): void {
    this.ctx.overflow(this.folds);
    super.inc(n, exemplar);
  }
}

class FoldingBoundGauge extends BoundGauge {
  constructor(
    series: GaugeSeries,
    ctx: FamilyContext,
    private readonly folds: string,
  ) {
    super(series, ctx);
  }
  override set(v: number): void {
    this.ctx.overflow(this.folds);
    super.set(v);
  }
  override inc(n = 1): void {
    this.ctx.overflow(this.folds);
    super.inc(n);
  }
}

class FoldingBoundHistogram extends BoundHistogram {
  constructor(
    series: HistogramSeries,
    upperBounds: Float64Array,
    ctx: FamilyContext,
    private readonly folds: string,
  ) {
    super(series, upperBounds, ctx);
  }
  override observe(v: number, exemplar?: ExemplarLabels): void {
    this.ctx.overflow(this.folds);
    super.observe(v, exemplar);
  }
}

/**
 * A handle for labels that were invalid gets a detached cell: its writes go nowhere, and the
 * error was counted once when it was bound.
 */
abstract class Instrument<L extends string, B> {
  private readonly bound = new Map<unknown, B>();
  private folded: B | undefined;
  constructor(readonly family: MetricFamily<L>) {}
  /** bind makes the handle of a series; `folds` (the family's name) when it is the overflow series past the cap. */
  protected abstract bind(series: unknown, folds?: string): B;
  /** zero starts this label set's series at 0 (pinned: it never expires) without binding a handle; a no-op past the cap. */
  zero(labels: LabelSet<L>): void {
    const values = this.family.valuesOf(labels);
    if (values !== undefined) this.family.zero(values);
  }

  /**
   * labels returns the bound handle of this label set (cached); the series is pinned and never expires. Past the
   * family's series cap it is the overflow handle: binding counts nothing, each write through it counts a fold.
   */
  labels(labels: LabelSet<L>): B {
    // A label set bound before: one walk of the family's index, no array built, no label checked again.
    const known = this.family.seriesOf(labels, false);
    const cached = known === undefined ? undefined : this.bound.get(known);
    if (cached !== undefined) return cached;
    const values = this.family.valuesOf(labels);
    if (values === undefined) return this.bind(undefined);
    const s = this.family.bindable(values);
    if (s === undefined) return this.overflow();
    let b = this.bound.get(s);
    if (b === undefined) {
      s.pinned = true;
      b = this.bind(s);
      this.bound.set(s, b);
    }
    return b;
  }

  /** overflow returns the handle of the family's overflow series: what a name past a cap records through, each write a fold. */
  overflow(): B {
    return (this.folded ??= this.bind(this.family.overflow(), this.family.name));
  }
}

export class Counter<L extends string = string> extends Instrument<L, BoundCounter> {
  protected bind(series: CounterSeries | undefined, folds?: string): BoundCounter {
    const cell = series ?? newCounterSeries([]);
    return folds === undefined ? new BoundCounter(cell, this.family.ctx) : new FoldingBoundCounter(cell, this.family.ctx, folds);
  }
  inc(labels: LabelSet<L>, n = 1, exemplar?: ExemplarLabels): void {
    const s = this.family.seriesOf(labels);
    if (s !== undefined) incCounter(s as CounterSeries, n, this.family.ctx, exemplar);
  }
}

export class Gauge<L extends string = string> extends Instrument<L, BoundGauge> {
  protected bind(series: GaugeSeries | undefined, folds?: string): BoundGauge {
    const cell = series ?? newGaugeSeries([]);
    return folds === undefined ? new BoundGauge(cell, this.family.ctx) : new FoldingBoundGauge(cell, this.family.ctx, folds);
  }
  set(labels: LabelSet<L>, v: number): void {
    const s = this.family.seriesOf(labels);
    if (s !== undefined) setGauge(s as GaugeSeries, v, this.family.ctx);
  }
  inc(labels: LabelSet<L>, n = 1): void {
    const s = this.family.seriesOf(labels);
    if (s !== undefined) addGauge(s as GaugeSeries, n, this.family.ctx);
  }
  dec(labels: LabelSet<L>, n = 1): void {
    this.inc(labels, -n);
  }
  /** remove drops one series, e.g. a gauge for something that no longer exists. */
  remove(labels: LabelSet<L>): void {
    this.family.remove(this.family.labelNames.map((n) => labels[n]));
  }
}

export class Histogram<L extends string = string> extends Instrument<L, BoundHistogram> {
  protected bind(series: HistogramSeries | undefined, folds?: string): BoundHistogram {
    const cell = series ?? newHistogramSeries([], this.family.upperBounds.length);
    const { upperBounds, ctx } = this.family;
    return folds === undefined ? new BoundHistogram(cell, upperBounds, ctx) : new FoldingBoundHistogram(cell, upperBounds, ctx, folds);
  }
  observe(labels: LabelSet<L>, v: number, exemplar?: ExemplarLabels): void {
    const s = this.family.seriesOf(labels);
    if (s !== undefined) observeHistogram(s as HistogramSeries, this.family.upperBounds, v, this.family.ctx, exemplar);
  }
}
