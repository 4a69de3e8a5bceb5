/**
 * worker_threads, as a service runs them: this test's main thread holds the primary meter and starts four real worker
 * threads (test/fixtures/cluster/worker.mjs) that record known amounts into worker meters.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Meter, type MetricsServer, createMeter } from '../../src/index.js';
import { expectedTotals, heapOf, sample, scrape, scrapesWhileBlocked, until, wait, workerFixture } from '../helpers/cluster.js';
import { builtCli } from '../helpers/tools.js';

/** message resolves with the thread's next application message that has `key`. */
function message<T extends Record<string, unknown>>(w: Worker, key: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`thread ${w.threadId} sent no "${key}" in ${timeoutMs} ms`)), timeoutMs);
    const on = (m: Record<string, unknown>) => {
      if (m !== null && typeof m === 'object' && key in m) {
        clearTimeout(t);
        w.off('message', on);
        resolve(m as T);
      }
    };
    w.on('message', on);
  });
}

describe('worker_threads: four threads, the main thread primary', () => {
  let meter: Meter;
  let server: MetricsServer;
  const threads: Worker[] = [];
  const logs: string[] = [];

  const start = (index: number, extra: Record<string, unknown> = {}): Worker => {
    const w = new Worker(workerFixture, { workerData: { index, ...extra } });
    meter.addWorker(w);
    threads.push(w);
    return w;
  };

  beforeAll(async () => {
    builtCli();
    meter = createMeter({ service: 'threads-test', defaultMetrics: false, cluster: 'primary', logger: (m) => logs.push(m) });
    server = await meter.serve({ port: 0, host: '127.0.0.1' });
    const started = [0, 1, 2, 3].map((i) => start(i));
    const ready = await Promise.all(started.map((w) => message<{ ready: boolean }>(w, 'ready')));
    expect(ready.map((r) => r.ready)).toEqual([true, true, true, true]);
  });

  afterAll(async () => {
    await Promise.all(threads.map((w) => w.terminate()));
    await server?.close();
    await meter?.close();
  });

  it("the primary's /metrics shows the exact sums of what four threads recorded", async () => {
    const { text } = await scrape(server.url);
    const t = expectedTotals([0, 1, 2, 3]);
    expect(sample(text, 'jobs_total{queue="shared"}')).toBe(t.shared);
    expect(text).toContain(
      `job_seconds_bucket{le="0.5"} ${t.fast}\njob_seconds_bucket{le="1"} ${t.fast}\njob_seconds_bucket{le="8"} ${t.count}\n` +
        `job_seconds_bucket{le="+Inf"} ${t.count}\njob_seconds_sum ${t.seconds}\njob_seconds_count ${t.count}\n`,
    );
    expect(sample(text, 'jobs_in_flight')).toBe(t.inFlight);
    expect(sample(text, 'queue_high_water')).toBe(t.highWater);
    expect(sample(text, 'free_slots')).toBe(t.freeSlots);
    threads.forEach((w, i) => expect(sample(text, `worker_heap_bytes{worker="${w.threadId}"}`)).toBe(heapOf(i)));
    expect(sample(text, 'pipemeter_cluster_workers')).toBe(4);
    expect(logs).toEqual([]);
  });

  it('a thread terminated mid-run keeps what it had counted; its gauge values leave the aggregate', async () => {
    const victim = threads[3]!;
    victim.postMessage({ cmd: 'spin' });
    await message(victim, 'spinning');
    const before = await until('spin counts in the primary', async () => {
      const v = sample((await scrape(server.url)).text, 'jobs_total{queue="spin"}');
      return v !== undefined && v > 0 ? v : undefined;
    });
    await victim.terminate();
    const spun = sample((await scrape(server.url)).text, 'jobs_total{queue="spin"}')!;
    expect(spun).toBeGreaterThanOrEqual(before);
    await wait(300);
    const later = (await scrape(server.url)).text;
    expect(sample(later, 'jobs_total{queue="spin"}')).toBe(spun);
    expect(sample(later, 'jobs_total{queue="shared"}')).toBe(expectedTotals([0, 1, 2, 3]).shared);
    const t = expectedTotals([0, 1, 2]);
    expect(sample(later, 'jobs_in_flight')).toBe(t.inFlight);
    expect(sample(later, 'queue_high_water')).toBe(t.highWater);
    expect(sample(later, 'free_slots')).toBe(t.freeSlots);
    expect(sample(later, `worker_heap_bytes{worker="${victim.threadId}"}`)).toBeUndefined();
    expect(sample(later, 'pipemeter_cluster_workers')).toBe(3);
  });

  it('a thread blocked for 5 s does not delay a scrape, and its changes arrive once it is back', async () => {
    const blocked = threads[0]!;
    const back = message<{ unblocked: boolean }>(blocked, 'unblocked', 20_000);
    const during = await scrapesWhileBlocked(server.url, () => blocked.postMessage({ cmd: 'block', ms: 5000 }), back);
    expect((await back).unblocked).toBe(true);
    const med = [...during].sort((a, b) => a - b)[during.length >> 1]!;
    console.log(`threads: scrape while a thread is blocked for 5 s: ${during.length} scrapes, median ${med.toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms`);
    expect(during.length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...during)).toBeLessThan(1000);
    expect(sample((await scrape(server.url)).text, 'jobs_total{queue="after-block"}')).toBe(1);
  });

  it("a thread's natural end sends its last changes, unflushed, before it exits", async () => {
    const w = start(5, { exitNaturally: true });
    const code = await new Promise<number>((r) => w.once('exit', r));
    expect(code).toBe(0);
    const text = (await scrape(server.url)).text;
    expect(sample(text, 'jobs_total{queue="w5"}')).toBe(1);
    expect(sample(text, 'jobs_total{queue="shared"}')).toBe(expectedTotals([0, 1, 2, 3, 5]).shared);
    // Gone with its thread: its gauge values.
    expect(sample(text, `worker_heap_bytes{worker="${w.threadId}"}`)).toBeUndefined();
  });
});
