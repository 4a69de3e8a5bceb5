/** Broker queue pollers: one Redis connection per broker, read on its interval into queue_depth, the oldest age and broker_up. */
import { Redis, type RedisOptions } from 'ioredis';
import type { Meter } from '../../meter/meter.js';
import type { Logger } from '../../shared/errors.js';
import type { BrokerConfig } from '../config.js';
import { layouts } from './layouts.js';

/** Reconnect backoff: doubles from 100 ms to at most 10 s, with jitter so a fleet does not reconnect in step. */
export function reconnectDelay(attempt: number, random = Math.random): number {
  const base = Math.min(10_000, 100 * 2 ** Math.min(attempt, 7));
  return Math.round(base / 2 + random() * (base / 2));
}

export interface PollerDeps {
  meter: Meter;
  logger: Logger;
  /** Unix ms. */
  now(): number;
  /** The Redis password read from password_file. */
  password?: string;
}

/** BrokerPoller polls one broker; a poll never overlaps the next, and no failure escapes it. */
export class BrokerPoller {
  private readonly client: Redis;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private down = false;
  private lastError = '';

  constructor(
    readonly config: BrokerConfig,
    private readonly deps: PollerDeps,
  ) {
    const opts: RedisOptions = {
      lazyConnect: true,
      // Fail fast while disconnected: a poll counts an error instead of queueing commands for later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: config.timeoutMs,
      commandTimeout: config.timeoutMs,
      retryStrategy: (attempt) => reconnectDelay(attempt),
      password: deps.password,
      connectionName: 'pipemeter',
    };
    this.client = new Redis(config.url, opts);
    // Without a listener ioredis's 'error' events would crash the process; the poll that fails reports it.
    this.client.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    const cat = deps.meter.catalog;
    cat.brokerUp.labels({ broker: config.name });
    cat.brokerPollErrors.labels({ broker: config.name });
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.client.disconnect();
  }

  /** poll reads every queue now and records the result; true when the broker answered. */
  async poll(): Promise<boolean> {
    const { meter } = this.deps;
    const b = this.config;
    const layout = layouts[b.kind];
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${b.timeoutMs}ms`)), b.timeoutMs);
        timer.unref();
      });
      const readings = await Promise.race([
        (async () => {
          await this.ready();
          return Promise.all(b.queues.map((q) => layout.read(this.client, b, q)));
        })(),
        timeout,
      ]);
      const now = this.deps.now();
      b.queues.forEach((queue, i) => {
        const r = readings[i]!;
        meter.catalog.queueDepth.set({ broker: b.name, queue }, r.depth);
        if (layout.ages) meter.catalog.queueOldestMessageAge.set({ broker: b.name, queue }, r.oldestAt === undefined ? 0 : Math.max(0, (now - r.oldestAt) / 1000));
      });
      meter.catalog.brokerUp.set({ broker: b.name }, 1);
      if (this.down) this.deps.logger(`pipemeter serve: broker ${b.name}: reachable again at ${redact(b.url)}`);
      this.down = false;
      return true;
    } catch (err) {
      meter.catalog.brokerUp.set({ broker: b.name }, 0);
      meter.catalog.brokerPollErrors.inc({ broker: b.name });
      // Depths from before the outage would read as current: drop them, broker_up says why they are gone.
      for (const queue of b.queues) {
        meter.catalog.queueDepth.remove({ broker: b.name, queue });
        meter.catalog.queueOldestMessageAge.remove({ broker: b.name, queue });
      }
      if (!this.down) {
        const why = this.lastError !== '' && this.lastError !== (err as Error).message ? ` (${this.lastError})` : '';
        this.deps.logger(`pipemeter serve: broker ${b.name}: poll of ${redact(b.url)} failed: ${(err as Error).message}${why}; broker_up is 0, retrying with backoff; check that Redis runs and the url and password_file are right`);
      }
      this.down = true;
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** ready connects on first use; while ioredis reconnects it waits for the connection, bounded by the poll's timeout. */
  private async ready(): Promise<void> {
    const c = this.client;
    if (c.status === 'ready') return;
    if (c.status === 'wait' || c.status === 'end') {
      await c.connect();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onReady = () => {
        c.off('end', onEnd);
        resolve();
      };
      const onEnd = () => {
        c.off('ready', onReady);
        reject(new Error('connection closed'));
      };
      c.once('ready', onReady);
      c.once('end', onEnd);
      setTimeout(() => {
        c.off('ready', onReady);
        c.off('end', onEnd);
        reject(new Error(`not connected: ${this.lastError || c.status}`));
      }, this.config.timeoutMs).unref();
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.poll().then(() => this.schedule(this.config.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}

/** redact shows a Redis URL without credentials, for log lines. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
