/** Health probes: each target's health URL fetched with undici on its interval, with a timeout, into probe_success and probe_duration_seconds. */
import { request } from 'undici';
import type { Meter } from '../meter/meter.js';
import type { Logger } from '../shared/errors.js';
import type { ProbeConfig } from './config.js';

/** ProbeFetch fetches a URL and returns its HTTP status; it must honour the abort signal. */
export type ProbeFetch = (url: string, signal: AbortSignal) => Promise<number>;

/** undiciProbe is the default fetch: a GET whose body is drained so the connection is reused. */
export const undiciProbe: ProbeFetch = async (url, signal) => {
  const res = await request(url, { method: 'GET', signal, headers: { 'user-agent': 'pipemeter-probe' } });
  await res.body.dump();
  return res.statusCode;
};

/** Prober runs every probe on its own timer; a probe never overlaps itself. */
export class Prober {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Set<AbortController>();
  private stopped = true;

  constructor(
    private readonly probes: readonly ProbeConfig[],
    private readonly meter: Meter,
    private readonly fetch: ProbeFetch,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    for (const p of this.probes) this.schedule(p, 0);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const c of this.inflight) c.abort();
  }

  /** probe runs one probe now and records its result. */
  async probe(p: ProbeConfig): Promise<boolean> {
    const ctl = new AbortController();
    this.inflight.add(ctl);
    const timer = setTimeout(() => ctl.abort(new Error(`timed out after ${p.timeoutMs}ms`)), p.timeoutMs);
    timer.unref();
    const t0 = performance.now();
    let ok = false;
    try {
      const status = await this.fetch(p.url, ctl.signal);
      // A fetch may resolve on abort (undici's body dump does): an answer not finished in time is a failure.
      if (ctl.signal.aborted) throw ctl.signal.reason instanceof Error ? ctl.signal.reason : new Error('aborted');
      ok = status >= 200 && status < 300;
      if (!ok) this.logger(`probe ${p.name}: ${p.url} answered ${status}`);
    } catch (err) {
      this.logger(`probe ${p.name}: ${p.url} failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ctl);
    }
    this.meter.catalog.probeSuccess.labels({ target: p.name }).set(ok ? 1 : 0);
    this.meter.catalog.probeDuration.labels({ target: p.name }).set((performance.now() - t0) / 1000);
    return ok;
  }

  private schedule(p: ProbeConfig, delayMs: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      void this.probe(p).then(() => this.schedule(p, p.intervalMs));
    }, delayMs);
    t.unref();
    this.timers.set(p.name, t);
  }
}
