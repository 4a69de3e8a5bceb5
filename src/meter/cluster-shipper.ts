/**
 * The worker's half of cluster aggregation: what changed in a meter's series since the last batch, measured against a
 * shadow of what was last sent. Recording stays a field update; only a flush walks the series. Nothing is queued:
 * changes not yet sent are simply the difference between a series and its shadow, so a busy primary or a slow channel
 * costs no memory beyond the series themselves.
 */
import type { Batch, ExemplarChange, FamilyDecl, Num } from './cluster-protocol.js';
import { num } from './cluster-protocol.js';
import type { MetricFamily } from './family.js';
import type { CounterSeries, Exemplar, GaugeSeries, HistogramSeries, Series } from './series.js';

/** A batch's payload: everything but the envelope. */
export type Changes = Pick<Batch, 'families' | 'defs' | 'forget' | 'c' | 'g' | 'h' | 'x'>;

/** What was last sent of one series. `id` is -1 until the series is defined on the current channel. */
class CounterShadow {
  id = -1;
  seen = 0;
  value = 0;
  exemplar: Exemplar | undefined = undefined;
}

class GaugeShadow {
  id = -1;
  seen = 0;
  value = 0;
}

class HistogramShadow {
  id = -1;
  seen = 0;
  count = 0;
  sum = 0;
  readonly counts: number[];
  readonly exemplars: (Exemplar | undefined)[];
  constructor(slots: number) {
    this.counts = new Array<number>(slots).fill(0);
    this.exemplars = new Array<Exemplar | undefined>(slots).fill(undefined);
  }
}

type Shadow = CounterShadow | GaugeShadow | HistogramShadow;

/** declOf is a family's declaration as the primary checks it against its own: the buckets are the effective ones. */
export function declOf(f: MetricFamily, i: number): FamilyDecl {
  const d: FamilyDecl = { i, name: f.name, type: f.def.type, help: f.def.help, labels: [...f.labelNames] };
  if (f.def.unit !== undefined) d.unit = f.def.unit;
  if (f.def.type === 'histogram') d.buckets = Array.from(f.upperBounds);
  if (f.def.type === 'gauge') d.aggregate = f.def.aggregate ?? 'sum';
  return d;
}

export class Shipper {
  private readonly shadows = new Map<Series, Shadow>();
  private readonly familyIndex = new Map<MetricFamily, number>();
  private nextFamily = 0;
  private nextId = 0;
  /** Ids of forgotten series, reused so the primary's table of this worker's series stays dense. */
  private free: number[] = [];
  private pass = 0;

  /** The number of series this worker has defined on the channel. */
  get size(): number {
    return this.shadows.size;
  }

  /** collect returns what changed since the last collect, and counts it as sent; undefined when nothing did. */
  collect(families: Iterable<MetricFamily>): Changes | undefined {
    const pass = ++this.pass;
    const out = new Builder();
    let visited = 0;
    for (const f of families) {
      if (f.series.size === 0 && f.overflowSeries === undefined) continue;
      let fi = this.familyIndex.get(f);
      if (fi === undefined) {
        fi = this.nextFamily++;
        this.familyIndex.set(f, fi);
        (out.families ??= []).push(declOf(f, fi));
      }
      for (const s of f.series) this.visit(s, fi, pass, out);
      visited += f.series.size;
      if (f.overflowSeries !== undefined) {
        this.visit(f.overflowSeries, fi, pass, out);
        visited++;
      }
    }
    // A series no family holds any more was dropped (expired, or a gauge removed): the primary forgets it.
    if (visited < this.shadows.size) {
      for (const [s, sh] of this.shadows) {
        if (sh.seen === pass) continue;
        this.shadows.delete(s);
        if (sh.id >= 0) {
          (out.forget ??= []).push(sh.id);
          this.free.push(sh.id);
        }
      }
    }
    return out.changes();
  }

  private visit(s: Series, fi: number, pass: number, out: Builder): void {
    let sh = this.shadows.get(s);
    if (sh === undefined) {
      sh = s.kind === 'histogram' ? new HistogramShadow(s.counts.length) : s.kind === 'counter' ? new CounterShadow() : new GaugeShadow();
      this.shadows.set(s, sh);
    }
    sh.seen = pass;
    if (sh.id < 0) {
      sh.id = this.free.length > 0 ? this.free.pop()! : this.nextId++;
      (out.defs ??= []).push([sh.id, fi, ...s.labelValues]);
    }
    switch (s.kind) {
      case 'counter':
        return counterChanges(s, sh as CounterShadow, out);
      case 'gauge':
        return gaugeChanges(s, sh as GaugeShadow, out);
      case 'histogram':
        return histogramChanges(s, sh as HistogramShadow, out);
    }
  }

  /** redefine starts a new channel: families and series are declared again, values go on from what was sent. */
  redefine(): void {
    this.familyIndex.clear();
    this.nextFamily = 0;
    this.nextId = 0;
    this.free = [];
    for (const sh of this.shadows.values()) sh.id = -1;
  }

  /** unsent: a counter or histogram series recorded something not sent yet (a gauge's last value matters only while it lives). */
  unsent(s: Series): boolean {
    if (s.kind === 'gauge') return false;
    const sh = this.shadows.get(s);
    if (s.kind === 'counter') {
      const c = sh as CounterShadow | undefined;
      return c === undefined ? s.value !== 0 || s.exemplar !== undefined : s.value !== c.value || s.exemplar !== c.exemplar;
    }
    return sh === undefined ? s.count !== 0 : s.count !== (sh as HistogramShadow).count;
  }

  /** reset starts over with a primary that has none of this worker's values: everything is sent again from zero. */
  reset(): void {
    this.redefine();
    this.shadows.clear();
  }
}

function counterChanges(s: CounterSeries, sh: CounterShadow, out: Builder): void {
  if (s.value !== sh.value) {
    (out.c ??= []).push(sh.id, s.value - sh.value);
    sh.value = s.value;
  }
  if (s.exemplar !== sh.exemplar && s.exemplar !== undefined) {
    const e = s.exemplar;
    (out.x ??= []).push([sh.id, 0, { ...e.labels }, e.value, e.timestamp]);
  }
  sh.exemplar = s.exemplar;
}

function gaugeChanges(s: GaugeSeries, sh: GaugeShadow, out: Builder): void {
  if (s.value !== sh.value) {
    (out.g ??= []).push(sh.id, num(s.value));
    sh.value = s.value;
  }
}

function histogramChanges(s: HistogramSeries, sh: HistogramShadow, out: Builder): void {
  // Every observation counts: an unchanged count is an unchanged histogram.
  if (s.count === sh.count) return;
  const d = (out.h ??= []);
  const at = d.length;
  d.push(sh.id, s.count - sh.count, num(s.sum - sh.sum), 0);
  let n = 0;
  const counts = s.counts;
  for (let i = 0; i < counts.length; i++) {
    const delta = counts[i]! - sh.counts[i]!;
    if (delta !== 0) {
      d.push(i, delta);
      sh.counts[i] = counts[i]!;
      n++;
    }
    const e = s.exemplars[i];
    if (e !== sh.exemplars[i] && e !== undefined) (out.x ??= []).push([sh.id, i, { ...e.labels }, e.value, e.timestamp]);
    sh.exemplars[i] = e;
  }
  d[at + 3] = n;
  sh.count = s.count;
  sh.sum = s.sum;
}

class Builder {
  families: FamilyDecl[] | undefined;
  defs: (number | string)[][] | undefined;
  forget: number[] | undefined;
  c: number[] | undefined;
  g: Num[] | undefined;
  h: Num[] | undefined;
  x: ExemplarChange[] | undefined;

  changes(): Changes | undefined {
    if (this.families === undefined && this.defs === undefined && this.forget === undefined && this.c === undefined && this.g === undefined && this.h === undefined && this.x === undefined) {
      return undefined;
    }
    const out: Changes = {};
    if (this.families !== undefined) out.families = this.families;
    if (this.defs !== undefined) out.defs = this.defs;
    if (this.forget !== undefined) out.forget = this.forget;
    if (this.c !== undefined) out.c = this.c;
    if (this.g !== undefined) out.g = this.g;
    if (this.h !== undefined) out.h = { v: 1, d: this.h };
    if (this.x !== undefined) out.x = this.x;
    return out;
  }
}
