/**
 * The messages between a worker meter and its primary: plain data that survives both JSON (node:cluster's IPC) and
 * structured clone (worker_threads), tagged `pipemeter: <protocol version>` so they can share a channel with the
 * application's own messages.
 *
 * A worker sends `hello` once, then `batch`es of what changed since its last batch, one at a time: the next waits
 * for the primary's `ack` of the previous, so nothing queues up in a channel while the primary is busy; meanwhile the
 * changes simply add up in the worker's own series. The primary answers `hello` with `welcome`, naming its session:
 * a worker that meets a new session (a new primary meter) sends everything again from zero.
 */
import type { GaugeAggregate, MetricType, MetricUnit } from '../catalog/index.js';

/** The protocol version, the value of every message's `pipemeter` field. */
export const PROTOCOL = 1;

/** A family as a worker declares it to the primary, once per channel; `i` is the index its series definitions use. */
export interface FamilyDecl {
  i: number;
  name: string;
  type: MetricType;
  help: string;
  labels: string[];
  unit?: MetricUnit;
  buckets?: number[];
  aggregate?: GaugeAggregate;
}

/**
 * Classic histogram changes, a piece of its own with its own version: a native (sparse, exponential) histogram will
 * travel beside it as another piece rather than change this one.
 * `d` is flat: per series `id, count delta, sum delta, n`, then n pairs `slot, count delta` for the buckets that
 * changed (slot i is the bucket of upper bound i, the last slot +Inf; counts per bucket, not cumulative).
 */
export interface ClassicHistogramChanges {
  v: 1;
  d: Num[];
}

/** An exemplar: series id, slot (bucket of a histogram, 0 for a counter), labels, value, Unix seconds. */
export type ExemplarChange = [id: number, slot: number, labels: Record<string, string>, value: number, timestamp: number];

/** A number, or `+Inf`, `-Inf`, `NaN` as strings: JSON has no literal for them. */
export type Num = number | string;

export interface Batch {
  pipemeter: typeof PROTOCOL;
  kind: 'batch';
  /** The worker meter: unique per meter instance, so two meters in one process never mix their series ids. */
  from: string;
  /** The primary session the worker met in its `welcome`; a batch for another session is stale and ignored. */
  session: string;
  seq: number;
  /** Families this channel has not seen yet. */
  families?: FamilyDecl[];
  /** New series: `[id, family index, ...label values]`; the series starts at 0 in the primary. */
  defs?: (number | string)[][];
  /** Series the worker dropped (expired or removed): their gauge values leave the primary's aggregate. */
  forget?: number[];
  /** Counter increments since the last batch: flat `id, delta` pairs. */
  c?: number[];
  /** Gauge values: flat `id, value` pairs. */
  g?: Num[];
  h?: ClassicHistogramChanges;
  x?: ExemplarChange[];
}

export interface Hello {
  pipemeter: typeof PROTOCOL;
  kind: 'hello';
  from: string;
  /** The value of the `worker` label of this worker's per-worker gauges, when the channel does not give one. */
  worker: string;
  /** worker_threads: the worker's end of a channel of its own, so pipemeter's traffic stays off `parentPort`. */
  port?: unknown;
}

export interface Welcome {
  pipemeter: typeof PROTOCOL;
  kind: 'welcome';
  session: string;
}

export interface Ack {
  pipemeter: typeof PROTOCOL;
  kind: 'ack';
  /** The worker meter acknowledged: a process may hold more than one. */
  to: string;
  seq: number;
}

/** The primary could not merge a family this worker declared; the worker logs the reason once. */
export interface Refused {
  pipemeter: typeof PROTOCOL;
  kind: 'refused';
  to: string;
  message: string;
}

export type ToPrimary = Batch | Hello;
export type ToWorker = Welcome | Ack | Refused;

/** isPipemeterMessage tells pipemeter's messages from the application's on a shared channel. */
export function isPipemeterMessage(m: unknown): m is { pipemeter: unknown; kind: unknown } {
  return typeof m === 'object' && m !== null && 'pipemeter' in m;
}

/** num encodes a value for JSON: finite numbers as they are, the others as the strings the exposition uses. */
export function num(v: number): Num {
  if (Number.isFinite(v)) return v;
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : 'NaN';
}

/** unnum decodes num(); undefined for anything else. */
export function unnum(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  return undefined;
}
