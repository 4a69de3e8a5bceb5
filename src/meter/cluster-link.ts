/**
 * The channels of cluster aggregation: a worker meter's link to its primary (node:cluster or child_process IPC, a
 * worker thread's own MessagePort) with its flush timer and flow control, and the primary's side that accepts
 * workers and feeds their batches to the merger. Node built-ins only, loaded when a meter asks for them.
 */
import { createRequire } from 'node:module';
import type { ClusterDropReason } from '../catalog/index.js';
import { PipemeterError } from '../shared/errors.js';
import { DEFAULT_MAX_WORKER_SERIES, type MergeHost, Merger, WorkerState } from './cluster-merge.js';
import { type Ack, type Batch, type Hello, PROTOCOL, type Refused, type ToPrimary, type ToWorker, type Welcome, isPipemeterMessage } from './cluster-protocol.js';
import { type Changes, Shipper } from './cluster-shipper.js';
import type { Series } from './series.js';
import type { MetricFamily } from './family.js';

type ClusterModule = typeof import('node:cluster');
type ThreadsModule = typeof import('node:worker_threads');
type MessagePort = import('node:worker_threads').MessagePort;

const require = createRequire(import.meta.url);
// Loaded on first use: a meter without `cluster` loads neither (some hosts, Passenger for one, break on node:cluster).
const clusterModule = (): ClusterModule['default'] => require('node:cluster') as ClusterModule['default'];
const threads = (): ThreadsModule => require('node:worker_threads') as ThreadsModule;

export type ClusterRole = 'primary' | 'worker';

export interface ClusterOptions {
  role: ClusterRole;
  /** Worker: how often it sends what changed, in ms (default 1000); a scrape sees a worker's changes this late at most. */
  flushIntervalMs?: number;
  /**
   * Worker: a MessagePort of its own to the primary (the primary passes the other end to `meter.addWorker()`).
   * Default: a worker thread makes its own and hands it over `parentPort`; a process uses its IPC channel.
   */
  port?: MessagePort;
  /** Primary: the most series one worker meter may define (default 100 000); past it changes are dropped and counted. */
  maxWorkerSeries?: number;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 1000;
/** How long a worker waits for a primary's welcome before it says, once, that none answered. */
const HELLO_WARNING_MS = 5000;
/** How many worker meters one channel (a process, a thread) may connect; more are refused and counted. */
const MAX_METERS_PER_CHANNEL = 16;

/** normalizeCluster reads the `cluster` option; a bad one throws at start-up with the fix. */
export function normalizeCluster(o: unknown): ClusterOptions {
  const opts = typeof o === 'string' ? { role: o } : o;
  const bad = (why: string) => new PipemeterError('E_CLUSTER_OPTIONS', `cluster: ${why}`);
  if (typeof opts !== 'object' || opts === null) throw bad(`expected 'primary', 'worker' or { role, ... }, got ${String(o)}`);
  const c = opts as Record<string, unknown>;
  if (c.role !== 'primary' && c.role !== 'worker') throw bad(`role must be 'primary' (merges workers' metrics and serves them) or 'worker' (sends its changes to the primary), got ${String(c.role)}`);
  const interval = c.flushIntervalMs;
  if (interval !== undefined && (typeof interval !== 'number' || !(interval >= 10 && interval <= 60_000))) {
    throw bad(`flushIntervalMs must be between 10 and 60000 ms, got ${String(interval)}; 1000 suits scrape intervals of 10 s and more`);
  }
  const max = c.maxWorkerSeries;
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1)) throw bad(`maxWorkerSeries must be a positive integer, got ${String(max)}`);
  return c as unknown as ClusterOptions;
}

let meters = 0;
/** A worker meter's id: unique per meter in the process and across processes and threads. */
function meterId(): string {
  return `${process.pid}.${threads().threadId}.${++meters}`;
}

/** What a worker link asks of its meter. */
export interface WorkerHost {
  families(): Iterable<MetricFamily>;
  /** Counts a flush put off because the previous batch is not acknowledged yet. */
  deferred(): void;
  log(key: string, message: string): void;
}

/** One worker's way to its primary. */
interface WorkerChannel {
  send(m: ToPrimary): boolean;
  /** hold keeps the process (thread) alive while an answer is awaited at exit. */
  hold(on: boolean): void;
  /** expecting says whether an answer (a welcome, an ack) is awaited: a channel may listen only then. */
  expecting(on: boolean): void;
  close(): void;
}

/**
 * processChannel: node:cluster workers and forked children, over the process's IPC channel. A `message` listener
 * keeps that channel, and so the process, alive: a cluster worker lives as long as its channel anyway (and listens
 * always, so that a new primary's welcome finds it idle), a forked child only listens while it awaits an answer, so
 * that it still ends when its work does.
 */
function processChannel(onMessage: (m: unknown) => void, onClose: () => void, always: boolean): WorkerChannel {
  const listener = (m: unknown) => {
    if (isPipemeterMessage(m)) onMessage(m);
  };
  let listening = false;
  const listen = (on: boolean) => {
    if (on === listening) return;
    listening = on;
    if (on) {
      process.on('message', listener);
      process.on('disconnect', onClose);
    } else {
      process.off('message', listener);
      process.off('disconnect', onClose);
    }
  };
  listen(true);
  return {
    send(m) {
      if (process.send === undefined || !process.connected) return false;
      process.send(m, (err: Error | null) => {
        if (err) onClose();
      });
      return true;
    },
    hold() {},
    expecting(on) {
      if (!always) listen(on);
    },
    close() {
      listen(false);
    },
  };
}

/** portChannel: a MessagePort of pipemeter's own; unref'd, so it never keeps a thread alive by itself. */
function portChannel(port: MessagePort, onMessage: (m: unknown) => void, onClose: () => void): WorkerChannel {
  const listener = (m: unknown) => {
    if (isPipemeterMessage(m)) onMessage(m);
  };
  port.on('message', listener);
  port.on('close', onClose);
  port.unref();
  return {
    send(m) {
      port.postMessage(m);
      return true;
    },
    hold(on) {
      if (on) port.ref();
      else port.unref();
    },
    expecting() {},
    close() {
      port.off('message', listener);
      port.off('close', onClose);
      port.close();
    },
  };
}

/**
 * WorkerLink sends a worker meter's changes to its primary: on a timer, one batch at a time (the next waits for the
 * primary's acknowledgement of the previous), and once more when a worker thread runs out of work.
 */
export class WorkerLink {
  readonly from = meterId();
  private readonly shipper = new Shipper();
  private readonly channel: WorkerChannel;
  private session: string | undefined;
  private inFlight: number | undefined;
  private seq = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly helloTimer: NodeJS.Timeout;
  /** flush() calls waiting for the in-flight batch: true once acknowledged, false when the channel closes. */
  private readonly acked: ((ok: boolean) => void)[] = [];
  private exiting = false;
  private gaveUp = false;

  constructor(
    private readonly host: WorkerHost,
    opts: ClusterOptions,
  ) {
    const t = threads();
    const onMessage = (m: unknown) => this.receive(m as ToWorker);
    const onClose = () => this.disconnected();
    let worker: string;
    let hello: Hello;
    if (opts.port !== undefined) {
      this.channel = portChannel(opts.port, onMessage, onClose);
      worker = String(t.threadId === 0 ? process.pid : t.threadId);
      hello = { pipemeter: PROTOCOL, kind: 'hello', from: this.from, worker };
      this.channel.send(hello);
    } else if (!t.isMainThread && t.parentPort !== null) {
      // A channel of its own, handed to the primary once, so the application's parentPort listeners see one message.
      const { port1, port2 } = new t.MessageChannel();
      this.channel = portChannel(port1, onMessage, onClose);
      worker = String(t.threadId);
      t.parentPort.postMessage({ pipemeter: PROTOCOL, kind: 'hello', from: this.from, worker, port: port2 } satisfies Hello, [port2]);
    } else if (typeof process.send === 'function') {
      const c = clusterModule();
      this.channel = processChannel(onMessage, onClose, c.isWorker);
      worker = String(c.isWorker ? c.worker!.id : process.pid);
      this.channel.send({ pipemeter: PROTOCOL, kind: 'hello', from: this.from, worker });
    } else {
      throw new PipemeterError(
        'E_CLUSTER_CHANNEL',
        "cluster: 'worker' needs a way to its primary, and this process has none: it is not a node:cluster worker, a forked child with IPC, or a worker thread. Start it with cluster.fork(), fork() or new Worker(), or pass cluster: { role: 'worker', port } with a MessagePort whose other end the primary gives to meter.addWorker()",
      );
    }
    this.timer = setInterval(() => this.tick(), opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.timer.unref();
    this.helloTimer = setTimeout(() => {
      if (this.session === undefined && !this.closed) {
        // No primary: a forked child stops waiting for one, so that it still ends when its work does.
        this.channel.expecting(false);
        host.log('no_primary', `no primary answered worker ${worker}'s hello in ${HELLO_WARNING_MS / 1000} s; its changes stay in its own series meanwhile. In the primary, create the meter with cluster: 'primary' (node:cluster), and call meter.addWorker(worker) right after new Worker() or fork()`);
      }
    }, HELLO_WARNING_MS);
    this.helloTimer.unref();
    process.on('beforeExit', this.onBeforeExit);
  }

  /** holds: a series whose recorded values this worker has not sent yet (expiry waits for the batch that carries them). */
  readonly holds = (s: Series): boolean => this.shipper.unsent(s);

  /** connected: a primary has welcomed this worker and its channel is open. */
  get connected(): boolean {
    return this.session !== undefined && !this.closed;
  }

  private receive(m: ToWorker): void {
    if (m.pipemeter !== PROTOCOL) return;
    if (m.kind === 'welcome' && typeof m.session === 'string') {
      if (m.session === this.session) return;
      // A new primary meter: it has none of this worker's series, so they are declared and sent again from zero.
      if (this.session !== undefined) this.shipper.reset();
      this.session = m.session;
      this.inFlight = undefined;
      this.channel.expecting(false);
      // A flush() waiting on a batch of the earlier session waits on the batch that starts this one instead.
      for (const f of this.acked.splice(0)) f(true);
      this.tick();
    } else if (m.kind === 'ack' && m.to === this.from && m.seq === this.inFlight) {
      this.inFlight = undefined;
      this.channel.expecting(false);
      for (const f of this.acked.splice(0)) f(true);
    } else if (m.kind === 'refused' && m.to === this.from && typeof m.message === 'string') {
      this.host.log(`refused:${m.message}`, `the primary refused a family of this worker: ${m.message}`);
    }
  }

  private tick(): void {
    if (!this.connected) return;
    if (this.inFlight !== undefined) {
      this.host.deferred();
      return;
    }
    this.send();
  }

  /** send sends what changed as one batch; returns false when there was nothing to send. */
  private send(): boolean {
    const changes: Changes | undefined = this.shipper.collect(this.host.families());
    if (changes === undefined) return false;
    const batch: Batch = { pipemeter: PROTOCOL, kind: 'batch', from: this.from, session: this.session!, seq: ++this.seq, ...changes };
    if (!this.channel.send(batch)) {
      this.disconnected();
      return false;
    }
    this.inFlight = this.seq;
    this.channel.expecting(true);
    return true;
  }

  /**
   * flush sends what changed now and resolves true once the primary has merged it (and everything before it);
   * false when no primary has it within timeoutMs (none connected, or it is busy).
   */
  async flush(timeoutMs = 5000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const acked = () =>
      new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(t);
          resolve(ok);
        };
        const t = setTimeout(() => {
          this.acked.splice(this.acked.indexOf(done) >>> 0, 1);
          resolve(false);
        }, Math.max(0, deadline - performance.now()));
        this.acked.push(done);
      });
    while (!this.connected) {
      if (this.closed || performance.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    // One batch in flight, also with several flush() calls at once: each waits its turn.
    while (this.inFlight !== undefined) if (!(await acked())) return false;
    if (!this.connected) return false;
    if (!this.send()) return true;
    const mine = this.inFlight;
    while (this.inFlight === mine) if (!(await acked())) return false;
    return true;
  }

  /**
   * At a worker thread's natural end the last changes go out, and the thread waits for their acknowledgement (or for
   * the primary's welcome first, when the thread ran out of work before it came). `beforeExit` comes again once the
   * flush is done: with nothing left to send it lets the thread go; a primary that never answered is not waited for twice.
   */
  private readonly onBeforeExit = (): void => {
    if (this.exiting || this.closed || (!this.connected && this.gaveUp)) return;
    this.exiting = true;
    this.channel.hold(true);
    void this.flush(HELLO_WARNING_MS).then((ok) => {
      if (!ok) this.gaveUp = true;
      this.channel.hold(false);
      this.exiting = false;
    });
  };

  private disconnected(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.helloTimer);
    process.off('beforeExit', this.onBeforeExit);
    this.channel.close();
    for (const f of this.acked.splice(0)) f(false);
  }

  /** close flushes (when a primary is there to take it), then stops sending and lets go of the channel. */
  async close(): Promise<void> {
    if (this.connected) await this.flush(HELLO_WARNING_MS);
    this.disconnected();
  }
}

/** What a primary link asks of its meter, beyond what the merger does. */
export interface PrimaryHost extends MergeHost {
  batch(): void;
  workers(n: number): void;
}

/** A channel to one worker process or thread, which may carry several worker meters. */
interface PrimaryChannel {
  readonly label: string;
  send(m: ToWorker): void;
  readonly states: Set<WorkerState>;
  close(): void;
}

/** Anything with a process's IPC: a node:cluster Worker or a ChildProcess. */
interface IpcEndpoint {
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (m: unknown) => void): unknown;
  on(event: 'exit', listener: () => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

/**
 * PrimaryLink accepts workers (node:cluster ones by itself, others by addWorker) and merges what they send. Nothing it
 * does waits on a worker: a scrape renders the merged state as it is.
 */
export class PrimaryLink {
  readonly session = `${process.pid}.${Date.now().toString(36)}.${++meters}`;
  private readonly merger: Merger;
  private readonly states = new Map<string, { state: WorkerState; channel: PrimaryChannel }>();
  private readonly channels = new Set<PrimaryChannel>();
  private readonly attached = new WeakSet<object>();
  private readonly labels = new Set<string>();
  private readonly detachCluster: (() => void) | undefined;

  constructor(
    private readonly host: PrimaryHost,
    opts: ClusterOptions,
  ) {
    this.merger = new Merger(host, opts.maxWorkerSeries ?? DEFAULT_MAX_WORKER_SERIES);
    const c = clusterModule();
    if (c.isPrimary && threads().isMainThread) {
      const onFork = (w: import('node:cluster').Worker) => this.attachIpc(w as unknown as IpcEndpoint, String(w.id));
      c.on('fork', onFork);
      this.detachCluster = () => c.off('fork', onFork);
      // Workers forked before this meter: welcomed now, in case they said hello before anyone listened.
      for (const w of Object.values(c.workers ?? {})) if (w !== undefined) this.attachIpc(w as unknown as IpcEndpoint, String(w.id), w.isConnected());
    }
  }

  /** add accepts a worker: a worker_threads Worker, a MessagePort, or a ChildProcess (node:cluster workers come by themselves). */
  add(target: unknown): void {
    const t = threads();
    if (target instanceof t.Worker) return this.attachThread(target);
    if (target instanceof t.MessagePort) return void this.attachPort(target, undefined);
    const o = target as Partial<IpcEndpoint> & { id?: unknown; pid?: unknown };
    if (typeof o === 'object' && o !== null && typeof o.send === 'function' && typeof o.on === 'function') {
      return this.attachIpc(o as IpcEndpoint, String(o.id ?? o.pid ?? 'child'));
    }
    throw new PipemeterError('E_CLUSTER_WORKER', `meter.addWorker(): expected a worker_threads Worker, a MessagePort or a ChildProcess, got ${Object.prototype.toString.call(target)}; node:cluster workers need no call`);
  }

  private attachIpc(w: IpcEndpoint, label: string, welcome = false): void {
    if (this.attached.has(w)) return;
    this.attached.add(w);
    const channel = this.channel(label, (m) => {
      try {
        w.send(m, () => {});
      } catch {
        // The worker is gone; its exit takes it out.
      }
    });
    const onMessage = (m: unknown) => this.receive(channel, m);
    const onExit = () => this.gone(channel);
    w.on('message', onMessage);
    w.on('exit', onExit);
    channel.close = () => {
      w.off('message', onMessage);
      w.off('exit', onExit);
    };
    if (welcome) channel.send(this.welcome());
  }

  private attachThread(w: import('node:worker_threads').Worker): void {
    if (this.attached.has(w)) return;
    this.attached.add(w);
    const ports: PrimaryChannel[] = [];
    const onMessage = (m: unknown) => {
      if (!isPipemeterMessage(m) || (m as Hello).kind !== 'hello') return;
      const port = (m as Hello).port;
      if (port instanceof threads().MessagePort) {
        const ch = this.attachPort(port, String(w.threadId));
        ports.push(ch);
        this.receive(ch, m);
      }
    };
    const onExit = () => {
      w.off('message', onMessage);
      for (const ch of ports) this.gone(ch);
    };
    w.on('message', onMessage);
    w.once('exit', onExit);
  }

  private attachPort(port: MessagePort, label: string | undefined): PrimaryChannel {
    const channel = this.channel(label, (m) => port.postMessage(m));
    const onMessage = (m: unknown) => this.receive(channel, m);
    const onClose = () => this.gone(channel);
    port.on('message', onMessage);
    port.on('close', onClose);
    port.unref();
    channel.close = () => {
      port.off('message', onMessage);
      port.off('close', onClose);
      port.close();
    };
    return channel;
  }

  private channel(label: string | undefined, send: (m: ToWorker) => void): PrimaryChannel {
    const ch: PrimaryChannel = { label: label ?? '', send, states: new Set(), close: () => {} };
    this.channels.add(ch);
    return ch;
  }

  private welcome(): Welcome {
    return { pipemeter: PROTOCOL, kind: 'welcome', session: this.session };
  }

  private receive(ch: PrimaryChannel, m: unknown): void {
    if (!isPipemeterMessage(m)) return;
    if (m.pipemeter !== PROTOCOL) {
      this.drop('version', `a worker speaks pipemeter protocol ${String(m.pipemeter)} and this primary ${PROTOCOL}; run the same pipemeter version in the primary and its workers`);
      return;
    }
    const msg = m as Record<string, unknown>;
    if (typeof msg.from !== 'string' || msg.from.length > 128) return this.drop('malformed');
    if (msg.kind === 'hello') {
      if (this.state(ch, msg.from, msg.worker) !== undefined) ch.send(this.welcome());
      return;
    }
    if (msg.kind !== 'batch') return this.drop('malformed');
    // A batch meant for an earlier primary meter: the worker sends everything again once it meets this one.
    if (msg.session !== this.session) return;
    if (typeof msg.seq !== 'number') return this.drop('malformed');
    const state = this.state(ch, msg.from, undefined);
    if (state === undefined) return;
    this.merger.apply(state, msg);
    this.host.batch();
    ch.send({ pipemeter: PROTOCOL, kind: 'ack', to: msg.from, seq: msg.seq } satisfies Ack);
  }

  /** state finds or makes what the primary knows of one worker meter; undefined past the bound per channel. */
  private state(ch: PrimaryChannel, from: string, worker: unknown): WorkerState | undefined {
    const known = this.states.get(from);
    if (known !== undefined) return known.channel === ch ? known.state : undefined;
    if (ch.states.size >= MAX_METERS_PER_CHANNEL) {
      this.drop('worker_limit', `a worker process or thread opened more than ${MAX_METERS_PER_CHANNEL} worker meters; create one meter per worker`);
      return undefined;
    }
    let label = ch.label !== '' ? ch.label : typeof worker === 'string' && /^[\w.:-]{1,64}$/.test(worker) ? worker : 'unknown';
    // Two meters of one worker, or a clash between a process id and a thread id: each per-worker series stays its own.
    for (let n = 2; this.labels.has(label); n++) label = `${label.replace(/~\d+$/, '')}~${n}`;
    this.labels.add(label);
    const state = new WorkerState(from, label);
    state.notify = (message) => ch.send(refusal(from, message));
    this.states.set(from, { state, channel: ch });
    ch.states.add(state);
    this.host.workers(this.states.size);
    return state;
  }

  private gone(ch: PrimaryChannel): void {
    if (!this.channels.delete(ch)) return;
    ch.close();
    for (const s of ch.states) {
      this.merger.gone(s);
      this.states.delete(s.from);
      this.labels.delete(s.label);
    }
    ch.states.clear();
    this.host.workers(this.states.size);
  }

  private drop(reason: ClusterDropReason, why?: string): void {
    this.host.dropped(reason, 1);
    if (why !== undefined) this.host.log(reason, why);
  }

  /** close stops accepting and merging; the merged state stays in the meter as it is. */
  close(): void {
    this.detachCluster?.();
    for (const ch of this.channels) ch.close();
    this.channels.clear();
  }
}

function refusal(to: string, message: string): Refused {
  return { pipemeter: PROTOCOL, kind: 'refused', to, message };
}
