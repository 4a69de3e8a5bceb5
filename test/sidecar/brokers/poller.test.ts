/** Broker pollers against a real redis-server: each framework's key layout, the password file, an outage and the recovery. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeter } from '../../../src/index.js';
import { type BrokerConfig, loadConfig } from '../../../src/sidecar/config.js';
import { BrokerPoller, reconnectDelay, redact } from '../../../src/sidecar/brokers/poller.js';
import { celeryKeys, parseRqTime } from '../../../src/sidecar/brokers/layouts.js';
import { lintedExpositions } from '../../helpers/exposition.js';
import { describeWithTools } from '../../helpers/tools.js';
import { T0, makeSidecar, memoryFs, sampleLines } from '../fixtures.js';
import { type RedisServer, startRedis } from './redis-server.js';

const PASSWORD = 'test-redis-password';
const linted = lintedExpositions();

/** rqTime writes a time as RQ's utcformat does: `%Y-%m-%dT%H:%M:%S.%fZ` (microseconds). */
function rqTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/** fill writes queues as each framework does (see layouts.ts for the sources of each layout). */
async function fill(r: Redis): Promise<void> {
  await r.flushdb();
  // Celery/kombu: LPUSH of the JSON message onto `queue` (priority 0) and `queue\x06\x16<step>`.
  const kombu = (task: string, priority: number) =>
    JSON.stringify({
      body: Buffer.from('[[], {}, {}]').toString('base64'),
      'content-encoding': 'utf-8',
      'content-type': 'application/json',
      headers: { lang: 'py', task, id: `${task}-${priority}`, retries: 0, eta: null },
      properties: { priority, body_encoding: 'base64', delivery_info: { exchange: '', routing_key: 'images' }, delivery_mode: 2, delivery_tag: 'x' },
    });
  await r.lpush('images', kombu('resize', 0), kombu('resize', 0), kombu('resize', 0));
  await r.lpush('images\x06\x163', kombu('resize', 3), kombu('resize', 3));
  await r.lpush('images\x06\x169', kombu('resize', 9));
  await r.lpush('other', kombu('noise', 0));
  // Dramatiq: HSET dramatiq:<q>.msgs id message, RPUSH dramatiq:<q> id (its dispatch.lua "enqueue").
  for (const [id, age] of [
    ['m1', 120],
    ['m2', 30],
  ] as const) {
    const msg = { queue_name: 'transcode', actor_name: 'transcode', args: [], kwargs: {}, options: {}, message_id: id, message_timestamp: T0 - age * 1000 };
    await r.hset('dramatiq:transcode.msgs', id, JSON.stringify(msg));
    await r.rpush('dramatiq:transcode', id);
  }
  await r.rpush('dramatiq:transcode.DQ', 'delayed-not-counted');
  // RQ: HSET rq:job:<id> (enqueued_at in utcformat), RPUSH rq:queue:<name> id.
  for (const [id, age] of [
    ['j1', 300],
    ['j2', 10],
    ['j3', 5],
  ] as const) {
    await r.hset(`rq:job:${id}`, { status: 'queued', origin: 'default', created_at: rqTime(T0 - age * 1000), enqueued_at: rqTime(T0 - age * 1000), data: 'x' });
    await r.rpush('rq:queue:default', id);
  }
  // BullMQ: job hash bull:<q>:<id> with timestamp (ms) and delay; LPUSH onto wait; prioritized scored priority*2^32+counter.
  const job = (q: string, id: string, ageS: number, extra: Record<string, string> = {}) =>
    r.hset(`bull:${q}:${id}`, { name: 'encode', data: '{}', opts: '{}', timestamp: String(T0 - ageS * 1000), delay: '0', priority: '0', ...extra });
  await job('video', '1', 600);
  await job('video', '2', 60);
  await job('video', '3', 6);
  await r.lpush('bull:video:wait', '1', '2', '3');
  await job('video', '4', 900, { priority: '5' });
  await job('video', '5', 20, { priority: '1' });
  await r.zadd('bull:video:prioritized', 5 * 2 ** 32 + 1, '4', 1 * 2 ** 32 + 2, '5');
  await job('video', '6', 5000, { delay: '4900000' });
  await r.zadd('bull:video:delayed', T0 + 1000, '6');
  // An old-style "0:" marker at the tail of wait is not a job; a paused queue keeps its jobs in :paused.
  await job('legacy', '1', 45);
  await r.rpush('bull:legacy:wait', '1', '0:0');
  await job('held', '9', 75);
  await r.lpush('bull:held:paused', '9');
}

function broker(redis: RedisServer, kind: BrokerConfig['kind'], queues: string[], extra: Partial<BrokerConfig> = {}): BrokerConfig {
  const prefix = { celery: '', dramatiq: 'dramatiq', rq: '', bullmq: 'bull' }[kind];
  return { name: kind, kind, url: redis.url, queues, intervalMs: 1000, timeoutMs: 500, prefix, prioritySteps: [0, 3, 6, 9], separator: '\x06\x16', ...extra };
}

describe('layout helpers', () => {
  it.each([
    [{ prefix: '', prioritySteps: [0, 3, 6, 9], separator: '\x06\x16' }, ['q', 'q\x06\x163', 'q\x06\x166', 'q\x06\x169']],
    [{ prefix: 'app:', prioritySteps: [0, 5], separator: ':' }, ['app:q', 'app:q:5']],
  ])('celeryKeys(%j) are kombu\'s _q_for_pri names', (b, want) => {
    expect(celeryKeys(b, 'q')).toEqual(want);
  });

  it.each([
    ['2024-05-01T12:00:00.123456Z', Date.parse('2024-05-01T12:00:00.123Z') + 0.456],
    ['2024-05-01T12:00:00Z', Date.parse('2024-05-01T12:00:00Z')],
    ['yesterday', undefined],
  ])('parseRqTime(%s)', (s, want) => {
    const got = parseRqTime(s);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toBeCloseTo(want, 3);
  });

  it('backs off from about 100 ms to at most 10 s, with jitter', () => {
    expect([0, 1, 3, 7, 30].map((a) => reconnectDelay(a, () => 1))).toEqual([100, 200, 800, 10_000, 10_000]);
    expect(reconnectDelay(30, () => 0)).toBe(5000);
  });

  it('redacts credentials from URLs in log lines', () => {
    expect(redact('redis://user:pw@h:6379/0')).toBe('redis://h:6379/0');
  });
});

describe('broker config', () => {
  it('defaults each kind\'s key prefix and kombu\'s priority steps', () => {
    const c = loadConfig('brokers:\n  - {name: a, kind: celery, url: "redis://127.0.0.1:6379/0", queues: [celery]}\n  - {name: b, kind: bullmq, url: "redis://127.0.0.1:6379/0", queues: [video], interval: 5s}\n', 'b.yaml');
    expect(c.brokers).toEqual([
      { name: 'a', kind: 'celery', url: 'redis://127.0.0.1:6379/0', queues: ['celery'], intervalMs: 15_000, timeoutMs: 5000, prefix: '', prioritySteps: [0, 3, 6, 9], separator: '\x06\x16' },
      { name: 'b', kind: 'bullmq', url: 'redis://127.0.0.1:6379/0', queues: ['video'], intervalMs: 5000, timeoutMs: 2500, prefix: 'bull', prioritySteps: [0, 3, 6, 9], separator: '\x06\x16' },
    ]);
  });

  it.each([
    ['a password in the url', '{name: a, kind: rq, url: "redis://:hunter2@h:6379", queues: [q]}', /secrets are read from files only.*password_file/],
    ['an inline password', '{name: a, kind: rq, url: "redis://h:6379", password: x, queues: [q]}', /brokers\[0\]\.password: unknown key; secrets are read from files only; put the password in a file \(mode 0600\) and set password_file/],
    ['an unknown kind', '{name: a, kind: sidekiq, url: "redis://h", queues: [q]}', /"sidekiq" is not a broker kind; use one of celery, dramatiq, rq, bullmq/],
    ['a non-redis url', '{name: a, kind: rq, url: "amqp://h", queues: [q]}', /"amqp:" is not a Redis URL scheme/],
    ['no queues', '{name: a, kind: rq, url: "redis://h", queues: []}', /list at least one queue/],
    ['kombu settings on rq', '{name: a, kind: rq, url: "redis://h", queues: [q], priority_steps: [0, 5]}', /kombu \(celery\) settings/],
    ['a timeout not under the interval', '{name: a, kind: rq, url: "redis://h", queues: [q], interval: 2s, timeout: 2s}', /must be shorter than the interval/],
    ['a missing url', '{name: a, kind: rq, queues: [q]}', /brokers\[0\].url: is required/],
  ])('refuses %s', (_what, entry, want) => {
    expect(() => loadConfig(`brokers:\n  - ${entry}\n`, 'b.yaml')).toThrow(want);
  });

  it('refuses two brokers with one name', () => {
    expect(() => loadConfig('brokers:\n  - {name: a, kind: rq, url: "redis://h", queues: [q]}\n  - {name: a, kind: rq, url: "redis://h", queues: [q]}\n', 'b.yaml')).toThrow(/b\.yaml:3:5: brokers\[1\]\.name: broker "a" is declared twice/);
  });
});

describeWithTools(['redis-server'], 'broker pollers against a real redis-server', () => {
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis(PASSWORD);
    client = new Redis(redis.url, { password: PASSWORD, lazyConnect: true, retryStrategy: () => 100 });
    client.on('error', () => {});
    await client.connect();
    await fill(client);
  }, 20_000);

  afterAll(async () => {
    client?.disconnect();
    await redis?.kill();
  });

  async function pollOnce(b: BrokerConfig, password: string | undefined = PASSWORD) {
    const meter = createMeter({ defaultMetrics: false, logger: () => {} });
    const logs: string[] = [];
    const p = new BrokerPoller(b, { meter, logger: (m) => logs.push(m), now: () => T0, password });
    try {
      const ok = await p.poll();
      return { ok, text: await linted.text(meter), logs };
    } finally {
      p.stop();
    }
  }

  it.each([
    ['celery: the queue and its priority sub-queues, no age (kombu messages carry no enqueue time)', broker({ url: '' } as RedisServer, 'celery', ['images', 'empty']), [
      'queue_depth{broker="celery",queue="images"} 6',
      'queue_depth{broker="celery",queue="empty"} 0',
    ]],
    ['dramatiq: the id list, age from the .msgs hash (delayed .DQ not counted)', broker({ url: '' } as RedisServer, 'dramatiq', ['transcode']), [
      'queue_depth{broker="dramatiq",queue="transcode"} 2',
      'queue_oldest_message_age_seconds{broker="dramatiq",queue="transcode"} 120',
    ]],
    ['rq: rq:queue:<name>, age from the job hash\'s enqueued_at', broker({ url: '' } as RedisServer, 'rq', ['default', 'idle']), [
      'queue_depth{broker="rq",queue="default"} 3',
      'queue_depth{broker="rq",queue="idle"} 0',
      'queue_oldest_message_age_seconds{broker="rq",queue="default"} 300',
      'queue_oldest_message_age_seconds{broker="rq",queue="idle"} 0',
    ]],
    ['bullmq: wait + prioritized (delayed not yet waiting), oldest across the wait tail and every priority band', broker({ url: '' } as RedisServer, 'bullmq', ['video', 'legacy', 'held']), [
      'queue_depth{broker="bullmq",queue="video"} 5',
      'queue_depth{broker="bullmq",queue="legacy"} 1',
      'queue_depth{broker="bullmq",queue="held"} 1',
      'queue_oldest_message_age_seconds{broker="bullmq",queue="video"} 900',
      'queue_oldest_message_age_seconds{broker="bullmq",queue="legacy"} 45',
      'queue_oldest_message_age_seconds{broker="bullmq",queue="held"} 75',
    ]],
  ])('%s', async (_what, b, want) => {
    const { ok, text } = await pollOnce({ ...b, url: redis.url });
    expect(ok).toBe(true);
    expect(sampleLines(text, 'queue_depth{', 'queue_oldest_message_age_seconds{')).toEqual(want);
    expect(sampleLines(text, 'broker_up{')).toEqual([`broker_up{broker="${b.name}"} 1`]);
  });

  it('a wrong password is broker_up 0, an error counted and a log line that says what to check', async () => {
    const { ok, text, logs } = await pollOnce(broker(redis, 'rq', ['default']), 'wrong');
    expect(ok).toBe(false);
    expect(sampleLines(text, 'broker_up{', 'pipemeter_broker_poll_errors_total{')).toEqual(['broker_up{broker="rq"} 0', 'pipemeter_broker_poll_errors_total{broker="rq"} 1']);
    expect(logs.join('\n')).toMatch(/broker rq: poll of redis:\/\/127\.0\.0\.1:\d+\/0 failed: .*(WRONGPASS|invalid).*check that Redis runs and the url and password_file are right/is);
  });

  it('through the sidecar: password_file read, pollers started by start() and stopped by stop()', async () => {
    const fs = memoryFs({ '/run/secrets/redis': `${PASSWORD}\n` });
    const t = makeSidecar(`brokers:\n  - {name: jobs, kind: rq, url: "${redis.url}", password_file: /run/secrets/redis, queues: [default], interval: 1s, timeout: 500ms}\n`, { fs });
    await t.sidecar.start();
    try {
      let lines: string[] = [];
      for (let i = 0; i < 100 && lines.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        lines = sampleLines(await t.sidecar.meter.render('text'), 'queue_depth{broker="jobs"');
      }
      expect(lines).toEqual(['queue_depth{broker="jobs",queue="default"} 3']);
    } finally {
      await t.sidecar.stop();
    }
    expect(() => makeSidecar(`brokers:\n  - {name: jobs, kind: rq, url: "${redis.url}", password_file: /missing, queues: [default]}\n`)).toThrow(/brokers\.jobs\.password_file: cannot read "\/missing"/);
  });

  it('an outage is broker_up 0 and counted errors, never a throw; the poller recovers by itself when Redis is back', async () => {
    const meter = createMeter({ defaultMetrics: false, logger: () => {} });
    const logs: string[] = [];
    const p = new BrokerPoller(broker(redis, 'dramatiq', ['transcode'], { timeoutMs: 300 }), { meter, logger: (m) => logs.push(m), now: () => T0, password: PASSWORD });
    const state = async () => sampleLines(await meter.render('text'), 'broker_up{', 'pipemeter_broker_poll_errors_total{', 'queue_depth{');
    try {
      expect(await p.poll()).toBe(true);
      expect(await state()).toEqual(['queue_depth{broker="dramatiq",queue="transcode"} 2', 'broker_up{broker="dramatiq"} 1', 'pipemeter_broker_poll_errors_total{broker="dramatiq"} 0']);

      await redis.kill();
      expect(await p.poll()).toBe(false);
      expect(await p.poll()).toBe(false);
      // The depth from before the outage is gone rather than shown as current.
      expect(await state()).toEqual(['broker_up{broker="dramatiq"} 0', 'pipemeter_broker_poll_errors_total{broker="dramatiq"} 2']);
      expect(logs.filter((l) => l.includes('failed'))).toHaveLength(1);

      await redis.start();
      await client.connect().catch(() => {});
      for (let i = 0; i < 50 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
      await fill(client);
      let up = false;
      const t0 = Date.now();
      // ioredis reconnects on its own backoff (at most 10 s between tries); polls fail fast until it is back.
      while (!up && Date.now() - t0 < 15_000) {
        up = await p.poll();
        if (!up) await new Promise((r) => setTimeout(r, 200));
      }
      expect(up).toBe(true);
      const after = await state();
      expect(after.slice(0, 2)).toEqual(['queue_depth{broker="dramatiq",queue="transcode"} 2', 'broker_up{broker="dramatiq"} 1']);
      expect(logs.some((l) => l.includes('reachable again'))).toBe(true);
    } finally {
      p.stop();
    }
  }, 30_000);
});
