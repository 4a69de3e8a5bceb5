/**
 * The primary's half of cluster aggregation: it merges the batches its workers send into the primary meter's own
 * families, so a scrape renders them like any meter and never waits on a worker. Counters add the increments,
 * histograms add them bucket by bucket, gauges keep each worker's value and show their sum, max or min, or one series
 * per worker. A worker that goes keeps what it counted; its gauge values leave the aggregate.
 *
 * Batches are read as untrusted input: a malformed piece is dropped and counted, never thrown.
 */
import { type ClusterDropReason, type GaugeAggregate, type MetricType, type MetricUnit, gaugeAggregates, metricTypes, metricUnits } from '../catalog/index.js';
import { type FamilyDecl, unnum } from './cluster-protocol.js';
import { EXEMPLAR_MAX_CHARS, type MetricFamily } from './family.js';
import { labelNameRe } from './validate.js';
import type { CounterSeries, Exemplar, GaugeSeries, HistogramSeries, Series } from './series.js';

/** The bounds on what one worker meter may define in the primary; past them its changes are dropped and counted. */
export const MAX_WORKER_FAMILIES = 1_000;
export const DEFAULT_MAX_WORKER_SERIES = 100_000;

/** OpenMetrics caps an exemplar's label set at 128 characters (names and values). */

/** What the merger asks of the primary meter. */
export interface MergeHost {
  /** family resolves a worker's declaration to the primary's family (registering it when new); a string says why not. */
  family(decl: FamilyDecl, worker: string): MetricFamily | string;
  dropped(reason: ClusterDropReason, n: number): void;
  /** log writes a line once per key. */
  log(key: string, message: string): void;
}

/** A family as one worker declared it, routed to the primary's family. */
class FamilyRoute {
  constructor(
    readonly family: MetricFamily,
    readonly type: MetricType,
    /** Label values a worker's series has (the primary adds `worker` to a per-worker gauge's). */
    readonly labels: number,
    readonly aggregate: GaugeAggregate | undefined,
  ) {}
}

/** One worker series, routed to the primary series it merges into. */
class Route {
  /** This worker's value of a gauge. */
  value = 0;
  constructor(
    readonly fam: FamilyRoute,
    readonly series: Series,
  ) {}
}

/** A series of a family the primary refused, and one past the worker's bound: their changes are counted, not merged. */
const REFUSED = 'refused';
const OVER = 'over';
type Slot = Route | typeof REFUSED | typeof OVER | undefined;

/** What the primary knows of one worker meter: its families and series by the indices its batches use. */
export class WorkerState {
  readonly families: (FamilyRoute | null | undefined)[] = [];
  readonly routes: Slot[] = [];
  /** Routes currently defined. */
  live = 0;
  /** Tells the worker why the primary refused one of its families. */
  notify: (message: string) => void = () => {};
  constructor(
    /** The worker meter's id (`from` of its messages). */
    readonly from: string,
    /** The value of the `worker` label of its per-worker gauges. */
    readonly label: string,
  ) {}
}

const isIndex = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < max;

export class Merger {
  /** Each aggregated gauge series' contributing worker series. */
  private readonly contributors = new Map<GaugeSeries, Route[]>();
  /** Primary series the merger created: those it removes when the last worker series in them goes. */
  private readonly created = new WeakSet<Series>();

  constructor(
    private readonly host: MergeHost,
    private readonly maxWorkerSeries = DEFAULT_MAX_WORKER_SERIES,
  ) {}

  /** apply merges one batch (its envelope already checked) from a worker. */
  apply(w: WorkerState, b: Record<string, unknown>): void {
    const ok =
      this.families(w, b.families) &&
      this.forget(w, b.forget) &&
      this.defs(w, b.defs) &&
      this.counters(w, b.c) &&
      this.gauges(w, b.g) &&
      this.histograms(w, b.h) &&
      this.exemplars(w, b.x);
    if (!ok) this.malformed(w);
  }

  /** gone takes a worker out of the aggregate: its counts stay, its gauge values go. */
  gone(w: WorkerState): void {
    for (const r of w.routes) if (r instanceof Route) this.detach(r);
    w.routes.length = 0;
    w.families.length = 0;
    w.live = 0;
  }

  private malformed(w: WorkerState): void {
    this.host.dropped('malformed', 1);
    this.host.log('malformed', `a batch from worker ${w.label} was not in pipemeter's format; what followed the first bad part was dropped and counted in pipemeter_cluster_changes_dropped_total{reason="malformed"}`);
  }

  private families(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v)) return false;
    for (const d of v) {
      if (!isDecl(d)) return false;
      if (d.i >= MAX_WORKER_FAMILIES) {
        this.host.dropped('worker_limit', 1);
        this.host.log('worker_limit_families', `worker ${w.label} declared more than ${MAX_WORKER_FAMILIES} families; the others' changes are dropped and counted in pipemeter_cluster_changes_dropped_total{reason="worker_limit"}`);
        continue;
      }
      const f = this.host.family(d, w.label);
      if (typeof f === 'string') {
        w.families[d.i] = null;
        this.host.log(`family:${d.name}`, f);
        w.notify(f);
        continue;
      }
      w.families[d.i] = new FamilyRoute(f, d.type, d.labels.length, d.type === 'gauge' ? (d.aggregate ?? 'sum') : undefined);
    }
    return true;
  }

  private forget(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v)) return false;
    for (const id of v) {
      if (!isIndex(id, this.maxWorkerSeries)) return false;
      const r = w.routes[id];
      if (r instanceof Route) {
        this.detach(r);
        w.live--;
      }
      w.routes[id] = undefined;
    }
    return true;
  }

  private defs(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v)) return false;
    for (const d of v) {
      if (!Array.isArray(d) || d.length < 2 || !isIndex(d[0], Number.MAX_SAFE_INTEGER) || !isIndex(d[1], Number.MAX_SAFE_INTEGER)) return false;
      const id = d[0];
      if (id >= this.maxWorkerSeries) {
        this.overLimit(w);
        continue;
      }
      const prior = w.routes[id];
      if (prior instanceof Route) {
        this.detach(prior);
        w.live--;
      }
      if (d[1] >= MAX_WORKER_FAMILIES) {
        // A series of a family past the bound: its changes count as past the bound too.
        w.routes[id] = OVER;
        this.overLimit(w);
        continue;
      }
      const fam = w.families[d[1]];
      if (fam === undefined) return false;
      if (fam === null) {
        w.routes[id] = REFUSED;
        continue;
      }
      if (d.length !== 2 + fam.labels || !d.every((x, i) => i < 2 || typeof x === 'string')) return false;
      if (w.live >= this.maxWorkerSeries) {
        w.routes[id] = OVER;
        this.overLimit(w);
        continue;
      }
      const values = d.slice(2) as string[];
      if (fam.aggregate === 'per-worker') values.push(w.label);
      const size = fam.family.series.size;
      const s = fam.family.seriesFor(values, true);
      if (fam.family.series.size > size) this.created.add(s);
      const r = new Route(fam, s);
      w.routes[id] = r;
      w.live++;
      if (fam.aggregate !== undefined && fam.aggregate !== 'per-worker') {
        const list = this.contributors.get(s as GaugeSeries);
        if (list === undefined) this.contributors.set(s as GaugeSeries, [r]);
        else list.push(r);
        this.aggregate(s as GaugeSeries, fam.aggregate);
      }
    }
    return true;
  }

  private overLimit(w: WorkerState): void {
    this.host.dropped('worker_limit', 1);
    this.host.log('worker_limit_series', `worker ${w.label} defined more than ${this.maxWorkerSeries} series; the others' changes are dropped and counted in pipemeter_cluster_changes_dropped_total{reason="worker_limit"}`);
  }

  /** route finds a series' route for a change of this type, counting the change when there is none. */
  private route(w: WorkerState, id: unknown, type: MetricType): Route | undefined | false {
    if (typeof id !== 'number') return false;
    const r = w.routes[id];
    if (r instanceof Route) return r.fam.type === type ? r : false;
    this.host.dropped(r === REFUSED ? 'family_conflict' : r === OVER || id >= this.maxWorkerSeries ? 'worker_limit' : 'unknown_series', 1);
    return undefined;
  }

  private counters(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v) || v.length % 2 !== 0) return false;
    for (let i = 0; i < v.length; i += 2) {
      const r = this.route(w, v[i], 'counter');
      if (r === false) return false;
      if (r === undefined) continue;
      const d = v[i + 1];
      if (typeof d !== 'number' || !(d >= 0 && d < Infinity)) {
        this.host.dropped('invalid_value', 1);
        continue;
      }
      const s = r.series as CounterSeries;
      s.value += d;
      s.dirty = true;
    }
    return true;
  }

  private gauges(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v) || v.length % 2 !== 0) return false;
    for (let i = 0; i < v.length; i += 2) {
      const r = this.route(w, v[i], 'gauge');
      if (r === false) return false;
      if (r === undefined) continue;
      const x = unnum(v[i + 1]);
      if (x === undefined || x !== x) {
        this.host.dropped('invalid_value', 1);
        continue;
      }
      const s = r.series as GaugeSeries;
      if (r.fam.aggregate === 'per-worker') {
        s.value = x;
        s.dirty = true;
      } else {
        r.value = x;
        this.aggregate(s, r.fam.aggregate!);
      }
    }
    return true;
  }

  private histograms(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (typeof v !== 'object' || v === null) return false;
    const piece = v as { v?: unknown; d?: unknown };
    if (piece.v !== 1) {
      this.host.dropped('version', 1);
      this.host.log('histogram_version', `worker ${w.label} sent histogram changes of version ${String(piece.v)}, which this primary does not read; run the same pipemeter version in the primary and its workers`);
      return true;
    }
    const d = piece.d;
    if (!Array.isArray(d)) return false;
    let i = 0;
    while (i < d.length) {
      const [id, dc, n] = [d[i], d[i + 1], d[i + 3]];
      const dsum = unnum(d[i + 2]);
      if (typeof dc !== 'number' || dsum === undefined || typeof n !== 'number' || !Number.isInteger(n) || n < 0 || i + 4 + 2 * n > d.length) return false;
      const at = i + 4;
      i = at + 2 * n;
      const r = this.route(w, id, 'histogram');
      if (r === false) return false;
      if (r === undefined) continue;
      const s = r.series as HistogramSeries;
      // Checked whole before any of it is added, so a series never takes half a change.
      let valid = dc >= 0 && dc < Infinity && dsum === dsum;
      for (let j = at; valid && j < i; j += 2) {
        const slot = d[j];
        const dn = d[j + 1];
        valid = isIndex(slot, s.counts.length) && typeof dn === 'number' && dn >= 0 && dn < Infinity;
      }
      if (!valid) {
        this.host.dropped('invalid_value', 1);
        continue;
      }
      for (let j = at; j < i; j += 2) s.counts[d[j] as number]! += d[j + 1] as number;
      s.count += dc;
      s.sum += dsum;
      s.dirty = true;
    }
    return true;
  }

  private exemplars(w: WorkerState, v: unknown): boolean {
    if (v === undefined) return true;
    if (!Array.isArray(v)) return false;
    for (const x of v) {
      if (!Array.isArray(x) || x.length !== 5) return false;
      const [id, slot, labels, value, timestamp] = x as unknown[];
      const r = w.routes[id as number];
      if (!(r instanceof Route) || r.fam.type === 'gauge') continue;
      const e = exemplarOf(labels, value, timestamp);
      if (e === undefined) {
        this.host.dropped('invalid_value', 1);
        continue;
      }
      if (r.fam.type === 'counter') (r.series as CounterSeries).exemplar = e;
      else if (isIndex(slot, (r.series as HistogramSeries).exemplars.length)) (r.series as HistogramSeries).exemplars[slot] = e;
      else this.host.dropped('invalid_value', 1);
    }
    return true;
  }

  /** aggregate sets a gauge series to the sum, max or min of its workers' values. */
  private aggregate(s: GaugeSeries, how: GaugeAggregate): void {
    const list = this.contributors.get(s);
    if (list === undefined) return;
    let v = how === 'max' ? -Infinity : how === 'min' ? Infinity : 0;
    for (const r of list) v = how === 'max' ? Math.max(v, r.value) : how === 'min' ? Math.min(v, r.value) : v + r.value;
    s.value = v;
    s.dirty = true;
  }

  /** detach takes one worker series out of the primary: a gauge's value leaves its aggregate (or its series goes). */
  private detach(r: Route): void {
    const how = r.fam.aggregate;
    if (how === undefined) return;
    const s = r.series as GaugeSeries;
    if (how !== 'per-worker') {
      const list = this.contributors.get(s) ?? [];
      const i = list.indexOf(r);
      if (i >= 0) list.splice(i, 1);
      if (list.length > 0) {
        this.aggregate(s, how);
        return;
      }
      this.contributors.delete(s);
    }
    if (this.created.has(s)) {
      r.fam.family.remove(s.labelValues);
    } else {
      // A series the primary declared itself stays, with no worker's value in it.
      s.value = 0;
      s.dirty = true;
    }
  }
}

const types: readonly unknown[] = metricTypes;
const units: readonly unknown[] = metricUnits;

/** isDecl checks a family declaration's shape; the primary's own rules judge its content. */
function isDecl(d: unknown): d is FamilyDecl {
  if (typeof d !== 'object' || d === null) return false;
  const o = d as Record<string, unknown>;
  return (
    isIndex(o.i, Number.MAX_SAFE_INTEGER) &&
    typeof o.name === 'string' &&
    types.includes(o.type) &&
    typeof o.help === 'string' &&
    Array.isArray(o.labels) &&
    o.labels.length <= 64 &&
    o.labels.every((l) => typeof l === 'string') &&
    (o.unit === undefined || units.includes(o.unit as MetricUnit)) &&
    (o.buckets === undefined || (Array.isArray(o.buckets) && o.buckets.length <= 1_000 && o.buckets.every((b) => typeof b === 'number'))) &&
    (o.aggregate === undefined || (gaugeAggregates as readonly unknown[]).includes(o.aggregate))
  );
}

function exemplarOf(labels: unknown, value: unknown, timestamp: unknown): Exemplar | undefined {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return undefined;
  const copy: Record<string, string> = {};
  let chars = 0;
  for (const [k, v] of Object.entries(labels)) {
    // `__`-names are reserved (and `__proto__` would set the object's prototype).
    if (typeof v !== 'string' || !labelNameRe.test(k) || k.startsWith('__')) return undefined;
    chars += k.length + v.length;
    copy[k] = v;
  }
  return chars > EXEMPLAR_MAX_CHARS ? undefined : { labels: copy, value, timestamp };
}
