/**
 * Cluster aggregation in one process, over MessageChannels: how a primary merges (declarations that agree or not, the
 * gauge aggregates, expiry, caps), what it does with batches that are not pipemeter's, its bounds, and the worker's
 * flow control. The real processes and threads are in cluster.test.ts and cluster-threads.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { type Meter, type MeterOptions, createMeter } from '../../src/index.js';
import { sample } from '../helpers/cluster.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { builtCli } from '../helpers/tools.js';

const expo = lintedExpositions();
const meters: Meter[] = [];
afterEach(async () => {
  await Promise.all(meters.splice(0).map((m) => m.close()));
});

function primary(opts: MeterOptions = {}, logs: string[] = []): Meter {
  const m = createMeter({ service: 'primary', defaultMetrics: false, cluster: 'primary', logger: (l) => logs.push(l), ...opts });
  meters.push(m);
  return m;
}

function worker(p: Meter, opts: { flushIntervalMs?: number; logs?: string[]; maxSeries?: number } = {}): Meter {
  const { port1, port2 } = new MessageChannel();
  p.addWorker(port2);
  const m = createMeter({
    service: 'worker',
    defaultMetrics: false,
    maxSeries: opts.maxSeries,
    logger: (l) => opts.logs?.push(l),
    cluster: { role: 'worker', port: port1, flushIntervalMs: opts.flushIntervalMs ?? 20 },
  });
  meters.push(m);
  return m;
}

const dropped = (text: string, reason: string) => sample(text, `pipemeter_cluster_changes_dropped_total{reason="${reason}"}`);

/** A hand-driven worker end: sends raw messages to a primary and collects its answers. */
function rawWorker(p: Meter) {
  const { port1, port2 } = new MessageChannel();
  p.addWorker(port2);
  const answers: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  port1.on('message', (m: Record<string, unknown>) => {
    answers.push(m);
    for (const f of waiting.splice(0)) f(m);
  });
  const next = (pred: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const found = answers.find(pred);
      if (found !== undefined) return resolve(found);
      const check = (m: Record<string, unknown>) => (pred(m) ? resolve(m) : waiting.push(check));
      waiting.push(check);
    });
  let seq = 0;
  return {
    port: port1 as MessagePort,
    answers,
    post: (m: unknown) => port1.postMessage(m),
    async hello(from = 'raw'): Promise<string> {
      port1.postMessage({ pipemeter: 1, kind: 'hello', from, worker: 'raw' });
      return (await next((m) => m.kind === 'welcome')).session as string;
    },
    /** batch sends one batch and resolves once the primary has acknowledged it (and so merged everything before it). */
    async batch(session: string, body: Record<string, unknown>, from = 'raw'): Promise<void> {
      const s = ++seq;
      port1.postMessage({ pipemeter: 1, kind: 'batch', from, session, seq: s, ...body });
      await next((m) => m.kind === 'ack' && m.seq === s && m.to === from);
    },
    close: () => port1.close(),
  };
}

describe('merging', () => {
  it('counters sum, histograms add bucket by bucket, gauges follow their aggregate, in both exposition formats', async () => {
    const p = primary();
    const ws = [worker(p), worker(p), worker(p)];
    ws.forEach((w, i) => {
      w.counter({ name: 'pages_total', help: 'Pages.', labels: ['site'] }).inc({ site: 'a' }, i + 1, { trace: `t${i}` });
      w.histogram({ name: 'fetch_seconds', help: 'Fetch time.', buckets: [1, 2] }).observe({}, i === 2 ? 5 : 0.5 + i);
      w.gauge({ name: 'backlog', help: 'Backlog.' }).set({}, 10);
      w.gauge({ name: 'peak', help: 'Peak.', aggregate: 'max' }).set({}, i * 7);
      w.gauge({ name: 'room', help: 'Room.', aggregate: 'min' }).set({}, -i);
      w.gauge({ name: 'lag_seconds', help: 'Lag.', aggregate: 'per-worker', unit: 'seconds' }).set({}, Infinity);
    });
    expect(await Promise.all(ws.map((w) => w.flush()))).toEqual([true, true, true]);
    const text = await expo.text(p);
    expect(sample(text, 'pages_total{site="a"}')).toBe(6);
    expect(text).toContain('fetch_seconds_bucket{le="1"} 1\nfetch_seconds_bucket{le="2"} 2\nfetch_seconds_bucket{le="+Inf"} 3\nfetch_seconds_sum 7\nfetch_seconds_count 3\n');
    expect(sample(text, 'backlog')).toBe(30);
    expect(sample(text, 'peak')).toBe(14);
    expect(sample(text, 'room')).toBe(-2);
    expect(text.match(/^lag_seconds\{worker="[^"]+"\} \+Inf$/gm)).toHaveLength(3);
    const om = await p.metrics({ openMetrics: true });
    expect(om).toMatch(/^pages_total\{site="a"\} 6 # \{trace="t\d"\} \d /m);
    expect(om).toContain('# UNIT lag_seconds seconds');
  });

  it('a worker series that expires takes its gauge value out of the aggregate; its counts stay', async () => {
    const p = primary();
    const [a, b] = [worker(p), worker(p)];
    for (const [w, v] of [[a, 3], [b, 4]] as const) {
      w.gauge({ name: 'busy', help: 'Busy.', labels: ['pool'] }).set({ pool: 'x' }, v);
      w.counter({ name: 'done_total', help: 'Done.', labels: ['pool'] }).inc({ pool: 'x' }, v);
    }
    await Promise.all([a.flush(), b.flush()]);
    expect(sample(await p.metrics(), 'busy{pool="x"}')).toBe(7);
    a.expireIdle(0, Date.now());
    a.expireIdle(0, Date.now() + 1);
    await a.flush();
    const text = await p.metrics();
    expect(sample(text, 'busy{pool="x"}')).toBe(4);
    expect(sample(text, 'done_total{pool="x"}')).toBe(7);
  });

  it("the primary's series cap applies to what workers send: past it their series fold into __overflow__, sums intact", async () => {
    const p = primary({ maxSeries: 5 });
    const w = worker(p);
    const c = w.counter({ name: 'hits_total', help: 'Hits.', labels: ['k'] });
    for (let i = 0; i < 10; i++) c.inc({ k: `v${i}` }, 2);
    await w.flush();
    const text = await p.metrics();
    expect(sample(text, 'hits_total{k="__overflow__"}')).toBe(10);
    expect(text.match(/^hits_total\{/gm)).toHaveLength(6);
    expect(sample(text, 'pipemeter_series_overflow_total{metric="hits_total"}')).toBe(5);
  });

  it('a family the primary declares too, before or after its workers, is one family', async () => {
    const p = primary();
    const early = p.counter({ name: 'early_total', help: 'Early.', labels: ['k'] });
    early.inc({ k: 'a' }, 1);
    const w = worker(p);
    w.counter({ name: 'early_total', help: 'Early.', labels: ['k'] }).inc({ k: 'a' }, 2);
    w.histogram({ name: 'late_seconds', help: 'Late.', buckets: [1] }).observe({}, 0.5);
    await w.flush();
    const late = p.histogram({ name: 'late_seconds', help: 'Late.', buckets: [1] });
    late.observe({}, 0.25);
    const text = await p.metrics();
    expect(sample(text, 'early_total{k="a"}')).toBe(3);
    expect(sample(text, 'late_seconds_count')).toBe(2);
    // Declared differently by the primary after a worker: refused as any duplicate is.
    expect(() => p.histogram({ name: 'late_seconds', help: 'Late.', buckets: [2] })).toThrow(/already registered by meter\.histogram\(\)/);
  });

  it('when its last worker goes, a gauge the primary declared stays at 0; one it learnt from a worker goes', async () => {
    const p = primary();
    p.gauge({ name: 'declared', help: 'Declared.' });
    const w = worker(p);
    w.gauge({ name: 'declared', help: 'Declared.' }).set({}, 5);
    w.gauge({ name: 'learnt', help: 'Learnt.' }).set({}, 6);
    await w.flush();
    let text = await p.metrics();
    expect([sample(text, 'declared'), sample(text, 'learnt')]).toEqual([5, 6]);
    await w.close();
    await new Promise((r) => setTimeout(r, 50));
    text = await p.metrics();
    expect([sample(text, 'declared'), sample(text, 'learnt'), sample(text, 'pipemeter_cluster_workers')]).toEqual([0, undefined, 0]);
  });

  it('a family declared differently by a worker is refused with the fix, in the primary and the worker; its changes are counted', async () => {
    const logs: string[] = [];
    const p = primary({}, logs);
    const a = worker(p);
    const workerLogs: string[] = [];
    const b = worker(p, { logs: workerLogs });
    a.histogram({ name: 'size_bytes', help: 'Size.', buckets: [10, 100] }).observe({}, 5);
    b.histogram({ name: 'size_bytes', help: 'Size.', buckets: [10, 1000] }).observe({}, 5);
    b.counter({ name: 'ok_total', help: 'Ok.' }).inc({}, 2);
    b.gauge({ name: 'level', help: 'Level.', aggregate: 'max' }).set({}, 1);
    a.gauge({ name: 'level', help: 'Level.', aggregate: 'min' }).set({}, 1);
    await a.flush();
    await b.flush();
    const text = await p.metrics();
    expect(sample(text, 'size_bytes_count')).toBe(1);
    expect(sample(text, 'ok_total')).toBe(2);
    // b's histogram and a's gauge: one series each.
    expect(dropped(text, 'family_conflict')).toBe(2);
    expect(logs.join('\n')).toMatch(/declares "size_bytes" with buckets \[10, 1000\], and the primary has \[10, 100\]; histograms merge bucket by bucket/);
    expect(logs.join('\n')).toMatch(/declares "level" with aggregate max, and the primary has min/);
    await b.flush();
    expect(workerLogs.join('\n')).toMatch(/the primary refused a family of this worker: .*"size_bytes" with buckets/);
  });

  it('declarations that cannot merge are refused at start-up with the fix', () => {
    const p = primary();
    expect(() => p.gauge({ name: 'per_thread', help: 'X.', aggregate: 'per-worker' })).toThrow(expect.objectContaining({ code: 'E_FAMILY_AGGREGATE' }));
    const m = createMeter({ defaultMetrics: false });
    expect(() => m.counter({ name: 'x_total', help: 'X.', aggregate: 'max' } as never)).toThrow(/aggregate applies to gauges/);
    expect(() => m.gauge({ name: 'y', help: 'Y.', aggregate: 'avg' as never })).toThrow(/aggregate "avg" is not one of sum, max, min, per-worker/);
    expect(() => m.gauge({ name: 'z', help: 'Z.', labels: ['worker'], aggregate: 'per-worker' })).toThrow(/adds a "worker" label/);
    expect(() => createMeter({ cluster: 'boss' as never })).toThrow(expect.objectContaining({ code: 'E_CLUSTER_OPTIONS' }));
    expect(() => createMeter({ cluster: { role: 'worker', flushIntervalMs: 0 } })).toThrow(/flushIntervalMs must be between 10 and 60000/);
    expect(() => m.addWorker({})).toThrow(expect.objectContaining({ code: 'E_CLUSTER_ROLE' }));
    expect(() => p.addWorker({})).toThrow(expect.objectContaining({ code: 'E_CLUSTER_WORKER' }));
  });

  it("cluster: 'worker' in a process with no way to a primary says how to start it", () => {
    builtCli();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import('pipemeter').then((p) => p.createMeter({ cluster: 'worker' })).catch((e) => { console.log(e.code + ': ' + e.message); })"], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.stdout).toMatch(/^E_CLUSTER_CHANNEL: .*Start it with cluster\.fork\(\), fork\(\) or new Worker\(\)/);
  });
});

describe('native histograms in a cluster', () => {
  it('are off in both roles: the primary exposes what the batches carry, classic buckets with their counts', async () => {
    const p = primary();
    const w = worker(p, { flushIntervalMs: 10_000 });
    w.pipeline('video', { stages: ['download'] }).job('j-1').stageObserved('download', 2.5);
    expect(await w.flush()).toBe(true);
    const merged = p.getFamily('pipeline_stage_duration_seconds')!;
    // The catalog's duration histograms keep native buckets elsewhere; here neither meter has them.
    expect([merged.native, w.getFamily('pipeline_stage_duration_seconds')!.native]).toEqual([undefined, undefined]);
    expect(sample(await p.metrics(), 'pipeline_stage_duration_seconds_count{pipeline="video",stage="download",outcome="success"}')).toBe(1);
    expect(createMeter({ defaultMetrics: false }).getFamily('pipeline_stage_duration_seconds')!.native).toBeDefined();
  });
});

describe('expiry in a worker', () => {
  it('keeps a counter series until its primary has what it recorded, then lets it go', async () => {
    const p = primary();
    const w = worker(p, { flushIntervalMs: 10_000 });
    w.counter({ name: 'ops_total', help: 'Ops.', labels: ['k'] }).inc({ k: 'a' }, 3);
    let now = Date.now();
    // Idle twice over (the first sweep only notes the write): not sent yet, so it stays.
    expect(w.expireIdle(0, (now += 1000)) + w.expireIdle(0, (now += 1000))).toBe(0);
    expect(await w.flush()).toBe(true);
    expect(sample(await p.metrics(), 'ops_total{k="a"}')).toBe(3);
    // Sent: the next sweep drops it in the worker, and the primary keeps the total.
    expect(w.expireIdle(0, (now += 1000))).toBe(1);
    expect(await w.flush()).toBe(true);
    expect(sample(await p.metrics(), 'ops_total{k="a"}')).toBe(3);
  });
});

describe('merging, as a property', () => {
  const key = fc.constantFrom('a', 'b', 'c');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('inc' as const), w: fc.nat(2), k: key, n: fc.nat(5) }),
    fc.record({ kind: fc.constant('observe' as const), w: fc.nat(2), v: fc.constantFrom(0.5, 2, 7) }),
    fc.record({ kind: fc.constant('set' as const), w: fc.nat(2), k: key, v: fc.integer({ min: -5, max: 5 }) }),
    fc.record({ kind: fc.constant('flush' as const), w: fc.nat(2) }),
    fc.record({ kind: fc.constant('expire' as const), w: fc.nat(2) }),
  );

  it('whatever three workers record, flush and expire, in any order, the primary holds every increment and the live gauges sum', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const p = primary();
        const ws = [worker(p, { flushIntervalMs: 10_000 }), worker(p, { flushIntervalMs: 10_000 }), worker(p, { flushIntervalMs: 10_000 })];
        const inst = ws.map((w) => ({
          c: w.counter({ name: 'ops_total', help: 'Ops.', labels: ['k'] }),
          h: w.histogram({ name: 'op_seconds', help: 'Op time.', buckets: [1, 5] }),
          g: w.gauge({ name: 'level', help: 'Level.', labels: ['k'] }),
        }));
        const counts: Record<string, number> = {};
        const buckets = [0, 0, 0];
        let now = Date.now();
        for (const o of ops) {
          const i = inst[o.w]!;
          if (o.kind === 'inc') {
            i.c.inc({ k: o.k }, o.n);
            counts[o.k] = (counts[o.k] ?? 0) + o.n;
          } else if (o.kind === 'observe') {
            i.h.observe({}, o.v);
            buckets[o.v < 1 ? 0 : o.v < 5 ? 1 : 2]!++;
          } else if (o.kind === 'set') {
            i.g.set({ k: o.k }, o.v);
          } else if (o.kind === 'flush') {
            expect(await ws[o.w]!.flush()).toBe(true);
          } else {
            ws[o.w]!.expireIdle(0, (now += 1000));
          }
        }
        expect(await Promise.all(ws.map((w) => w.flush()))).toEqual([true, true, true]);
        const text = await p.metrics();
        for (const k of ['a', 'b', 'c']) {
          expect(sample(text, `ops_total{k="${k}"}`) ?? 0).toBe(counts[k] ?? 0);
          // A gauge's aggregate is the sum over the workers that still hold its series.
          const live = ws.map((w) => w.getFamily('level')!.series).flatMap((set) => [...set].filter((x) => x.labelValues[0] === k));
          expect(sample(text, `level{k="${k}"}`)).toBe(live.length === 0 ? undefined : live.reduce((n, x) => n + (x as { value: number }).value, 0));
        }
        const n = buckets[0]! + buckets[1]! + buckets[2]!;
        if (n > 0) {
          expect(text).toContain(`op_seconds_bucket{le="1"} ${buckets[0]}\nop_seconds_bucket{le="5"} ${buckets[0]! + buckets[1]!}\nop_seconds_bucket{le="+Inf"} ${n}\n`);
        }
        await Promise.all(meters.splice(0).map((m) => m.close()));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 40) },
    );
  });
});

describe('what a primary does with batches that are not what pipemeter sends', () => {
  it('drops and counts each bad part, merges the good ones, and never throws', async () => {
    const logs: string[] = [];
    const p = primary({}, logs);
    const raw = rawWorker(p);
    const session = await raw.hello();
    const fam = { i: 0, name: 'raw_total', type: 'counter', help: 'Raw.', labels: ['k'] };
    const gauge = { i: 1, name: 'raw_level', type: 'gauge', help: 'Level.', labels: [], aggregate: 'sum' };
    const hist = { i: 2, name: 'raw_seconds', type: 'histogram', help: 'Raw.', labels: [], buckets: [1] };
    await raw.batch(session, { families: [fam, gauge, hist], defs: [[0, 0, 'a'], [1, 1], [2, 2]], c: [0, 5], g: [1, 3], h: { v: 1, d: [2, 1, 0.5, 1, 0, 1] } });
    await raw.batch(session, { c: [0, -1, 0, 'x' as never].slice(0, 2), g: [1, 'NaN'] });
    await raw.batch(session, { c: [7, 1] });
    await raw.batch(session, { h: { v: 1, d: [2, 1, 0.5, 1, 9, 1] } });
    await raw.batch(session, { h: { v: 2, d: [] } });
    await raw.batch(session, { x: [[0, 0, JSON.parse('{"__proto__": "x"}'), 1, 1]] });
    await raw.batch(session, { x: [[0, 0, { ['a'.repeat(200)]: 'b' }, 1, 1]] });
    await raw.batch(session, { c: 'nope' });
    await raw.batch(session, { defs: [[3, 0]] });
    await raw.batch(session, { families: [{ i: 3, name: 'bad name', type: 'counter', help: 'X.', labels: [] }], defs: [[3, 3]], c: [3, 1] });
    raw.post({ pipemeter: 9, kind: 'batch' });
    raw.post({ pipemeter: 1, kind: 'batch', from: 42 });
    raw.post({ pipemeter: 1, kind: 'nonsense', from: 'raw' });
    raw.post('not even an object');
    // A batch for another primary meter's session: stale, ignored.
    raw.post({ pipemeter: 1, kind: 'batch', from: 'raw', session: 'elsewhere', seq: 99, c: [0, 1000] });
    await raw.batch(session, { c: [0, 1] });
    const text = await p.metrics();
    expect(sample(text, 'raw_total{k="a"}')).toBe(6);
    expect(sample(text, 'raw_level')).toBe(3);
    expect(sample(text, 'raw_seconds_count')).toBe(1);
    expect(dropped(text, 'invalid_value')).toBe(5); // -1, NaN, bucket slot 9, two exemplars
    expect(dropped(text, 'unknown_series')).toBe(1);
    expect(dropped(text, 'version')).toBe(2); // histogram piece v2, protocol 9
    expect(dropped(text, 'malformed')).toBe(4); // c: 'nope', a def without its label, from: 42, kind nonsense
    expect(dropped(text, 'family_conflict')).toBe(1); // "bad name"
    expect(logs.join('\n')).toMatch(/metric name "bad name" is not valid/);
    expect(sample(text, 'pipemeter_cluster_batches_received_total')).toBe(11);
  });

  it('bounds what one worker may define: series past maxWorkerSeries and families past 1 000 are counted, not kept', async () => {
    const p = primary({ cluster: { role: 'primary', maxWorkerSeries: 10 } });
    const raw = rawWorker(p);
    const session = await raw.hello();
    const ids = Array.from({ length: 15 }, (_, i) => i);
    await raw.batch(session, {
      families: [{ i: 0, name: 'many_total', type: 'counter', help: 'Many.', labels: ['k'] }],
      defs: ids.map((i) => [i, 0, `v${i}`]),
      c: ids.flatMap((i) => [i, 1]),
    });
    let text = await p.metrics();
    expect(text.match(/^many_total\{k="v\d+"\} 1$/gm)).toHaveLength(10);
    // Five definitions past the bound and their five increments.
    expect(dropped(text, 'worker_limit')).toBe(10);
    // An id past the bound, a family past 1 000 and a series of it with one increment.
    await raw.batch(session, {
      families: [{ i: 1000, name: 'f_total', type: 'counter', help: 'F.', labels: [] }],
      defs: [[10, 0, 'x'], [11, 1000]],
      c: [11, 1],
    });
    text = await p.metrics();
    expect(dropped(text, 'worker_limit')).toBe(14);
    expect(text).not.toContain('f_total');
    expect(dropped(text, 'malformed')).toBe(0);
  });

  it('a real worker past the bound: every series it defines is merged or counted', async () => {
    const p = primary({ cluster: { role: 'primary', maxWorkerSeries: 50 } });
    const w = worker(p);
    const c = w.counter({ name: 'many_total', help: 'Many.', labels: ['k'] });
    for (let i = 0; i < 100; i++) c.inc({ k: `v${i}` });
    await w.flush();
    const text = await p.metrics();
    const kept = (text.match(/^many_total\{/gm) ?? []).length;
    const sent = [...w.allFamilies()].reduce((n, f) => n + f.series.size, 0);
    expect(kept).toBeGreaterThan(0);
    // Each series past the bound counts twice: its definition, and its one increment.
    expect(dropped(text, 'worker_limit')).toBe(2 * (sent - 50));
  });

  it('accepts at most 16 worker meters over one channel', async () => {
    const p = primary();
    const raw = rawWorker(p);
    for (let i = 0; i < 17; i++) raw.post({ pipemeter: 1, kind: 'hello', from: `m${i}`, worker: 'w' });
    await raw.hello('m0');
    await new Promise((r) => setTimeout(r, 50));
    const text = await p.metrics();
    expect(sample(text, 'pipemeter_cluster_workers')).toBe(16);
    expect(dropped(text, 'worker_limit')).toBe(1);
    raw.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(sample(await p.metrics(), 'pipemeter_cluster_workers')).toBe(0);
  });
});

describe('a worker', () => {
  /** A primary by hand: welcomes, and acks only when told to. */
  function silentPrimary() {
    const { port1, port2 } = new MessageChannel();
    const batches: Record<string, unknown>[] = [];
    port2.on('message', (m: Record<string, unknown>) => {
      if (m.kind === 'hello') port2.postMessage({ pipemeter: 1, kind: 'welcome', session: 's1' });
      if (m.kind === 'batch') batches.push(m);
    });
    return {
      port: port1,
      batches,
      ack: (b: Record<string, unknown>) => port2.postMessage({ pipemeter: 1, kind: 'ack', to: b.from, seq: b.seq }),
      welcome: (session: string) => port2.postMessage({ pipemeter: 1, kind: 'welcome', session }),
      close: () => port2.close(),
    };
  }

  it('sends one batch at a time: while the primary has not acknowledged, changes add up in its series and flushes are counted as deferred', async () => {
    const sp = silentPrimary();
    const w = createMeter({ defaultMetrics: false, cluster: { role: 'worker', port: sp.port, flushIntervalMs: 10 } });
    meters.push(w);
    const c = w.counter({ name: 'n_total', help: 'N.' });
    c.inc({}, 1);
    await until(() => sp.batches.length === 1);
    for (let i = 0; i < 50; i++) {
      c.inc({}, 1);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(sp.batches).toHaveLength(1);
    expect(w.catalog.clusterFlushesDeferred.labels({}).value).toBeGreaterThan(3);
    sp.ack(sp.batches[0]!);
    await until(() => sp.batches.length === 2);
    // The second batch carries the 50 increments made while the first was unacknowledged, as one delta.
    const first = sp.batches[0]!;
    const family = (first.families as { i: number; name: string }[]).find((f) => f.name === 'n_total')!.i;
    const id = (first.defs as number[][]).find((d) => d[1] === family)![0]!;
    const counter = (b: Record<string, unknown>) => {
      const c = b.c as number[];
      return c[c.findIndex((v, i) => i % 2 === 0 && v === id) + 1];
    };
    expect(counter(sp.batches[0]!)).toBe(1);
    expect(counter(sp.batches[1]!)).toBe(50);
    sp.close();
  });

  it('sends everything again from zero when it meets a new primary', async () => {
    const sp = silentPrimary();
    const w = createMeter({ defaultMetrics: false, cluster: { role: 'worker', port: sp.port, flushIntervalMs: 10 } });
    meters.push(w);
    w.counter({ name: 'm_total', help: 'M.' }).inc({}, 5);
    await until(() => sp.batches.length === 1);
    sp.ack(sp.batches[0]!);
    sp.welcome('s2');
    await until(() => sp.batches.length === 2);
    const b = sp.batches[1]!;
    expect(b.session).toBe('s2');
    expect((b.families as { name: string }[]).map((f) => f.name)).toContain('m_total');
    const id = (b.defs as unknown[][]).find((d) => d.length === 2 && (b.families as { i: number; name: string }[]).find((f) => f.i === d[1])?.name === 'm_total')![0];
    const c = b.c as number[];
    expect(c[c.indexOf(id as number) + 1]).toBe(5);
    sp.close();
  });

  it("collects no default process metrics unless asked: its registry stays in the worker", async () => {
    const quiet = createMeter({ cluster: { role: 'worker', port: new MessageChannel().port1 } });
    const asked = createMeter({ defaultMetrics: true, cluster: { role: 'worker', port: new MessageChannel().port1 } });
    meters.push(quiet, asked);
    expect(await quiet.metrics()).not.toContain('process_cpu_seconds_total');
    expect(await asked.metrics()).toContain('process_cpu_seconds_total');
  });

  it('flush resolves false when no primary answers in time', async () => {
    const { port1 } = new MessageChannel();
    const logs: string[] = [];
    const w = createMeter({ defaultMetrics: false, logger: (l) => logs.push(l), cluster: { role: 'worker', port: port1 } });
    meters.push(w);
    expect(await w.flush(100)).toBe(false);
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
