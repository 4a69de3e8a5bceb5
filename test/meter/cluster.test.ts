/**
 * node:cluster, as a service runs it: this test process is the primary (a primary meter serving /metrics) and forks
 * four real worker processes (test/fixtures/cluster/worker.mjs) that record known amounts into worker meters.
 */
import { type ChildProcess, fork as forkChild } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Meter, type MetricsServer, createMeter } from '../../src/index.js';
import { expectedTotals, heapOf, sample, scrape, scrapesWhileBlocked, until, wait, workerFixture } from '../helpers/cluster.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { builtCli } from '../helpers/tools.js';

const expo = lintedExpositions();

/** message resolves with the worker's next application message (not pipemeter's) that matches. */
function message<T extends Record<string, unknown>>(w: Worker | ChildProcess, key: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker ${'id' in w ? w.id : w.pid} sent no "${key}" in ${timeoutMs} ms`)), timeoutMs);
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

function fork(index: number): Worker {
  return cluster.fork({ INDEX: String(index) });
}

describe('node:cluster: four forked workers, one primary', () => {
  let meter: Meter;
  let server: MetricsServer;
  const workers: Worker[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    builtCli();
    cluster.setupPrimary({ exec: workerFixture, execArgv: [] });
    meter = createMeter({ service: 'cluster-test', defaultMetrics: false, cluster: 'primary', logger: (m) => logs.push(m) });
    server = await meter.serve({ port: 0, host: '127.0.0.1' });
    for (let i = 0; i < 4; i++) workers.push(fork(i));
    const ready = await Promise.all(workers.map((w) => message<{ ready: boolean }>(w, 'ready')));
    // Each worker's flush resolved true: the primary acknowledged (and had merged) everything it recorded.
    expect(ready.map((r) => r.ready)).toEqual([true, true, true, true]);
  });

  afterAll(async () => {
    for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    await server?.close();
    await meter?.close();
  });

  it("the primary's /metrics shows the exact sums of what four workers recorded", async () => {
    const { text } = await scrape(server.url);
    const t = expectedTotals([0, 1, 2, 3]);
    expect(sample(text, 'jobs_total{queue="shared"}')).toBe(t.shared);
    for (let i = 0; i < 4; i++) expect(sample(text, `jobs_total{queue="w${i}"}`)).toBe(1);
    expect(text).toContain(
      `job_seconds_bucket{le="0.5"} ${t.fast}\njob_seconds_bucket{le="1"} ${t.fast}\njob_seconds_bucket{le="8"} ${t.count}\n` +
        `job_seconds_bucket{le="+Inf"} ${t.count}\njob_seconds_sum ${t.seconds}\njob_seconds_count ${t.count}\n`,
    );
    // Gauges by their declared aggregate: sum (the default), max, min, and one series per worker.
    expect(sample(text, 'jobs_in_flight')).toBe(t.inFlight);
    expect(sample(text, 'queue_high_water')).toBe(t.highWater);
    expect(sample(text, 'free_slots')).toBe(t.freeSlots);
    workers.forEach((w, i) => expect(sample(text, `worker_heap_bytes{worker="${w.id}"}`)).toBe(heapOf(i)));
    // Catalog families merge too.
    expect(sample(text, 'scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"}')).toBe(t.items);
    expect(sample(text, 'pipemeter_cluster_workers')).toBe(4);
    expect(sample(text, 'pipemeter_cluster_batches_received_total')).toBeGreaterThanOrEqual(4);
    for (const reason of ['malformed', 'version', 'family_conflict', 'unknown_series', 'worker_limit', 'invalid_value']) {
      expect(sample(text, `pipemeter_cluster_changes_dropped_total{reason="${reason}"}`)).toBe(0);
    }
    // The job ids the workers attached ride along as exemplars.
    expect(await meter.metrics({ openMetrics: true })).toMatch(/^job_seconds_bucket\{le="0\.5"\} \d+ # \{job_id="job-\d-\d"\} 0\.25 \d+\.\d{3}$/m);
    await expo.text(meter);
    expect(logs).toEqual([]);
  });

  it('a worker killed mid-run keeps what it had counted; its gauge values leave the aggregate', async () => {
    const victim = workers[3]!;
    victim.send({ cmd: 'spin' });
    await message(victim, 'spinning');
    // It is recording when it dies: wait until the primary has some of its spinning.
    const before = await until('spin counts in the primary', async () => {
      const v = sample((await scrape(server.url)).text, 'jobs_total{queue="spin"}');
      return v !== undefined && v > 0 ? v : undefined;
    });
    const exited = new Promise((r) => victim.once('exit', r));
    victim.process.kill('SIGKILL');
    await exited;
    const afterKill = (await scrape(server.url)).text;
    const spun = sample(afterKill, 'jobs_total{queue="spin"}')!;
    expect(spun).toBeGreaterThanOrEqual(before);
    await wait(300);
    const later = (await scrape(server.url)).text;
    // Its counts stay and never go back.
    expect(sample(later, 'jobs_total{queue="spin"}')).toBe(spun);
    const t3 = expectedTotals([0, 1, 2, 3]);
    expect(sample(later, 'jobs_total{queue="shared"}')).toBe(t3.shared);
    expect(sample(later, 'job_seconds_count')).toBe(t3.count);
    // Its gauges go: the aggregates are the three live workers'.
    const t = expectedTotals([0, 1, 2]);
    expect(sample(later, 'jobs_in_flight')).toBe(t.inFlight);
    expect(sample(later, 'queue_high_water')).toBe(t.highWater);
    expect(sample(later, 'free_slots')).toBe(t.freeSlots);
    expect(sample(later, `worker_heap_bytes{worker="${victim.id}"}`)).toBeUndefined();
    expect(sample(later, 'pipemeter_cluster_workers')).toBe(3);

    // A replacement adds to the totals; nothing restarts from zero.
    const replacement = fork(4);
    workers.push(replacement);
    expect((await message<{ ready: boolean }>(replacement, 'ready')).ready).toBe(true);
    const after = (await scrape(server.url)).text;
    expect(sample(after, 'jobs_total{queue="shared"}')).toBe(t3.shared + 500);
    expect(sample(after, 'jobs_total{queue="spin"}')).toBe(spun);
    expect(sample(after, 'jobs_in_flight')).toBe(expectedTotals([0, 1, 2, 4]).inFlight);
    expect(sample(after, 'free_slots')).toBe(expectedTotals([0, 1, 2, 4]).freeSlots);
    expect(sample(after, `worker_heap_bytes{worker="${replacement.id}"}`)).toBe(heapOf(4));
    expect(sample(after, 'pipemeter_cluster_workers')).toBe(4);
  });

  it('a worker blocked for 5 s does not delay a scrape, and its changes arrive once it is back', async () => {
    const idle: number[] = [];
    for (let i = 0; i < 10; i++) idle.push((await scrape(server.url)).ms);
    const blocked = workers[0]!;
    const back = message<{ unblocked: boolean }>(blocked, 'unblocked', 20_000);
    const during = await scrapesWhileBlocked(server.url, () => blocked.send({ cmd: 'block', ms: 5000 }), back);
    expect((await back).unblocked).toBe(true);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    console.log(`cluster: scrape while a worker is blocked for 5 s: ${during.length} scrapes, median ${med(during).toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms (idle median ${med(idle).toFixed(1)} ms)`);
    // Scrapes kept coming through the whole block (one every ~100 ms), each answered in a fraction of it.
    expect(during.length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...during)).toBeLessThan(1000);
    expect(sample((await scrape(server.url)).text, 'jobs_total{queue="after-block"}')).toBe(1);
  });

  it('a worker that exits on purpose flushes first: nothing it recorded is lost', async () => {
    const w = workers[1]!;
    const exited = new Promise<number>((r) => w.once('exit', (code: number) => r(code)));
    w.send({ cmd: 'exit' });
    expect(await exited).toBe(0);
    const text = (await scrape(server.url)).text;
    expect(sample(text, 'jobs_total{queue="w1"}')).toBe(1);
    expect(sample(text, `worker_heap_bytes{worker="${w.id}"}`)).toBeUndefined();
    expect(sample(text, 'pipemeter_cluster_workers')).toBe(3);
  });
  it('a child_process.fork() child given to addWorker merges like a cluster worker', async () => {
    const child = forkChild(workerFixture, [], { env: { ...process.env, INDEX: '6' }, execArgv: [] });
    meter.addWorker(child);
    try {
      expect((await message<{ ready: boolean }>(child, 'ready')).ready).toBe(true);
      const text = (await scrape(server.url)).text;
      expect(sample(text, 'jobs_total{queue="w6"}')).toBe(1);
      expect(sample(text, `worker_heap_bytes{worker="${child.pid}"}`)).toBe(heapOf(6));
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await until('the child gone', async () => (sample((await scrape(server.url)).text, `worker_heap_bytes{worker="${child.pid}"}`) === undefined ? true : undefined));
  });

  it("a forked child's natural end sends its last changes, and the child still ends", async () => {
    const child = forkChild(workerFixture, [], { env: { ...process.env, INDEX: '8', EXIT_NATURALLY: '1' }, execArgv: [] });
    meter.addWorker(child);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(sample((await scrape(server.url)).text, 'jobs_total{queue="w8"}')).toBe(1);
  });

  it('a primary meter created after its workers started gets all of them, and everything they counted', async () => {
    // The first primary meter goes away; a worker forked now says hello to no one.
    await meter.close();
    await server.close();
    const late = fork(7);
    workers.push(late);
    await wait(500);
    meter = createMeter({ service: 'cluster-test', defaultMetrics: false, cluster: 'primary', logger: (m) => logs.push(m) });
    server = await meter.serve({ port: 0, host: '127.0.0.1' });
    expect((await message<{ ready: boolean }>(late, 'ready')).ready).toBe(true);
    const live = workers.filter((w) => !w.isDead());
    const indices = [0, 2, 4, 7];
    expect(live.map((w) => w.id)).toEqual([workers[0]!.id, workers[2]!.id, workers[4]!.id, late.id]);
    // The workers that were already running met a new primary: they sent their whole values again, from zero.
    const text = await until('every live worker in the new primary', async () => {
      const t = (await scrape(server.url)).text;
      return sample(t, 'pipemeter_cluster_workers') === 4 && sample(t, 'jobs_total{queue="shared"}') === expectedTotals(indices).shared ? t : undefined;
    });
    expect(sample(text, 'jobs_in_flight')).toBe(expectedTotals(indices).inFlight);
    expect(sample(text, 'job_seconds_count')).toBe(expectedTotals(indices).count);
    expect(sample(text, 'jobs_total{queue="after-block"}')).toBe(1);
  });
});
