/** How each framework keeps a queue in Redis: the keys a poller reads for the depth and the oldest waiting message. */
import type { BrokerConfig } from '../config.js';

/** The Redis commands a layout needs; ioredis's client has them all. */
export interface RedisReader {
  llen(key: string): Promise<number>;
  lindex(key: string, index: number): Promise<string | null>;
  hget(key: string, field: string): Promise<string | null>;
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  zcard(key: string): Promise<number>;
  zrangebyscore(key: string, min: number | string, max: number | string, withscores: 'WITHSCORES', limit: 'LIMIT', offset: number, count: number): Promise<string[]>;
}

export interface QueueReading {
  depth: number;
  /** Unix ms at which the oldest waiting message was enqueued (or became ready); undefined when the queue is empty. */
  oldestAt?: number;
}

/** A layout reads one queue; `ages` is false for brokers whose messages carry no enqueue time. */
export interface Layout {
  ages: boolean;
  read(r: RedisReader, b: BrokerConfig, queue: string): Promise<QueueReading>;
}

/** celeryKeys: kombu keeps priority 0 in the queue's own list and each other step in `<queue><sep><step>`. */
export function celeryKeys(b: Pick<BrokerConfig, 'prefix' | 'prioritySteps' | 'separator'>, queue: string): string[] {
  return b.prioritySteps.map((step) => (step === 0 ? `${b.prefix}${queue}` : `${b.prefix}${queue}${b.separator}${step}`));
}

/**
 * Celery on Redis (kombu's transport): LPUSH onto a list per priority step, BRPOP from them. The message
 * (headers, properties, body) holds no enqueue time, so only the depth is known.
 */
const celery: Layout = {
  ages: false,
  async read(r, b, queue) {
    const lens = await Promise.all(celeryKeys(b, queue).map((k) => r.llen(k)));
    return { depth: lens.reduce((a, n) => a + n, 0) };
  },
};

/** Dramatiq's Redis broker: `<ns>:<queue>` lists message ids (RPUSH, fetched with LPOP); `<ns>:<queue>.msgs` maps id to the JSON message with `message_timestamp` (ms). */
const dramatiq: Layout = {
  ages: true,
  async read(r, b, queue) {
    const key = `${b.prefix}:${queue}`;
    const [depth, head] = await Promise.all([r.llen(key), r.lindex(key, 0)]);
    if (head === null) return { depth };
    const raw = await r.hget(`${key}.msgs`, head);
    const ts = raw === null ? undefined : (jsonField(raw, 'message_timestamp') as number | undefined);
    return { depth, oldestAt: typeof ts === 'number' && Number.isFinite(ts) ? ts : undefined };
  },
};

/** RQ: `rq:queue:<name>` lists job ids (RPUSH, LPOP); `rq:job:<id>` is a hash whose `enqueued_at` is UTC `%Y-%m-%dT%H:%M:%S.%fZ`. */
const rq: Layout = {
  ages: true,
  async read(r, b, queue) {
    const key = `${b.prefix}rq:queue:${queue}`;
    const [depth, head] = await Promise.all([r.llen(key), r.lindex(key, 0)]);
    if (head === null) return { depth };
    const at = await r.hget(`${b.prefix}rq:job:${head}`, 'enqueued_at');
    return { depth, oldestAt: at === null ? undefined : parseRqTime(at) };
  },
};

/** BullMQ scores a prioritized job `priority * 2^32 + counter`: one band per priority level. */
const PRIORITY_BAND = 0x100000000;
/** Populated priority levels read per poll; BullMQ allows up to 2^21, real queues use a handful. */
const MAX_PRIORITY_BANDS = 64;

/**
 * BullMQ: `<prefix>:<queue>:wait` (LPUSH, taken from the tail), `:paused` while the queue is paused, and the
 * `:prioritized` sorted set; each job hash `<prefix>:<queue>:<id>` has `timestamp` (ms) and `delay`. Delayed jobs
 * are not waiting yet and are not counted.
 */
const bullmq: Layout = {
  ages: true,
  async read(r, b, queue) {
    const base = `${b.prefix}:${queue}:`;
    const [wait, paused, prioritized, waitTail, waitTail2, pausedTail] = await Promise.all([
      r.llen(`${base}wait`),
      r.llen(`${base}paused`),
      r.zcard(`${base}prioritized`),
      r.lindex(`${base}wait`, -1),
      r.lindex(`${base}wait`, -2),
      r.lindex(`${base}paused`, -1),
    ]);
    // Queues from before BullMQ's marker key may hold a "0:" marker at the tail of wait: it is not a job.
    const marker = waitTail?.startsWith('0:') === true;
    const ids = [marker ? waitTail2 : waitTail, pausedTail];
    let next = 0;
    for (let i = 0; i < MAX_PRIORITY_BANDS && prioritized > 0; i++) {
      const found = await r.zrangebyscore(`${base}prioritized`, next, '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
      if (found.length < 2) break;
      ids.push(found[0]!);
      next = (Math.floor(Number(found[1]) / PRIORITY_BAND) + 1) * PRIORITY_BAND;
    }
    let oldestAt: number | undefined;
    for (const id of ids) {
      if (id === null || id === undefined) continue;
      const [ts, delay] = await r.hmget(`${base}${id}`, 'timestamp', 'delay');
      const ready = Number(ts) + (Number(delay) || 0);
      if (ts !== null && Number.isFinite(ready) && (oldestAt === undefined || ready < oldestAt)) oldestAt = ready;
    }
    return { depth: wait - (marker ? 1 : 0) + paused + prioritized, oldestAt };
  },
};

export const layouts: Record<BrokerConfig['kind'], Layout> = { celery, dramatiq, rq, bullmq };

function jsonField(raw: string, key: string): unknown {
  try {
    const v = JSON.parse(raw) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  } catch {
    return undefined;
  }
}

/** parseRqTime reads RQ's `2024-05-01T12:00:00.123456Z` (microseconds; older RQ wrote no fraction) as Unix ms. */
export function parseRqTime(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/.exec(s);
  if (m === null) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return ms + (m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000);
}
