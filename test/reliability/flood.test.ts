/**
 * Floods through the real ingest listener: 1 000 000 distinct label values, and far more jobs than the
 * table holds. Series and jobs stay capped, the overflow series holds the sum, every fold and eviction
 * is counted, and the heap after GC stays under a documented bound and stops growing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/host.js';
import { createMeter } from '../../src/index.js';
import { parseExposition } from '../../src/exposition/parse.js';
import { loadConfig } from '../../src/sidecar/config.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** heapMiB collects garbage until the heap settles and returns what is left, in MiB. */
function heapMiB(): number {
  let last = Infinity;
  for (let i = 0; i < 6; i++) {
    gc();
    const h = process.memoryUsage().heapUsed;
    if (Math.abs(h - last) < 64 * 1024) break;
    last = h;
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Documented in docs/reliability.md: measured 7 MiB for 10 000 series (10.5 MiB with the render caches a scrape fills). */
const SERIES_FLOOD_BOUND_MIB = 24;
/** Documented: measured 6 MiB for a full table of 10 000 jobs and 10 000 remembered finished keys. */
const JOB_FLOOD_BOUND_MIB = 24;
/** How much the heap may move between the middle and the end of a flood: flat, not growing with input (measured < 0.5 MiB). */
const FLAT_MIB = 3;

const open: RunningSidecar[] = [];
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
});

async function start(yaml: string): Promise<RunningSidecar> {
  const r = await startSidecar(loadConfig(yaml, 'flood.yaml'), {
    metricsPort: 0,
    ingestPort: 0,
    metricsHost: '127.0.0.1',
    drainMs: 2000,
    deps: { meter: createMeter({ defaultMetrics: false, maxSeries: 10_000, logger: () => {} }), logger: () => {} },
  });
  open.push(r);
  return r;
}

async function sendBatches(r: RunningSidecar, from: number, to: number, batch: number, line: (i: number) => string): Promise<number> {
  let accepted = 0;
  for (let i = from; i < to; i += batch) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(to, i + batch); j++) lines.push(line(j));
    const res = await request(`${r.ingestUrl}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n'), headersTimeout: 30_000, bodyTimeout: 30_000 });
    const body = (await res.body.json()) as { accepted: number; rejected: unknown[] };
    expect(res.statusCode).toBe(200);
    expect(body.rejected).toEqual([]);
    accepted += body.accepted;
  }
  return accepted;
}

async function samples(r: RunningSidecar): Promise<Map<string, number>> {
  const text = await (await fetch(r.metricsUrl, { signal: AbortSignal.timeout(20_000) })).text();
  const parsed = parseExposition(text, 'text');
  expect(parsed.problems.filter((p) => p.severity === 'error')).toEqual([]);
  const out = new Map<string, number>();
  for (const f of parsed.families) for (const s of f.samples) out.set(s.name + JSON.stringify(s.labels), s.value);
  return out;
}

describe('cardinality flood: 1 000 000 distinct label values at the sidecar', () => {
  it('series stay at the cap, the overflow series holds the sum, every fold is counted, the heap stays bounded and flat', async () => {
    const base = heapMiB();
    const r = await start('families:\n  - { name: flood_events_total, type: counter, help: Flood., labels: [key] }\n');
    const N = 1_000_000;
    const line = (i: number) => `{"type":"metric","name":"flood_events_total","labels":{"key":"v${i}"},"value":1}`;
    const t0 = performance.now();
    let accepted = await sendBatches(r, 0, N / 2, 10_000, line);
    const half = heapMiB() - base;
    accepted += await sendBatches(r, N / 2, N, 10_000, line);
    const seconds = (performance.now() - t0) / 1000;
    const full = heapMiB() - base;
    expect(accepted).toBe(N);

    const s = await samples(r);
    const family = [...s].filter(([k]) => k.startsWith('flood_events_total{'));
    expect(family).toHaveLength(10_000 + 1);
    expect(s.get('flood_events_total{"key":"__overflow__"}')).toBe(N - 10_000);
    // Nothing lost: the capped series and the overflow series add up to every increment sent.
    expect(family.reduce((a, [, v]) => a + v, 0)).toBe(N);
    expect(s.get('pipemeter_series_overflow_total{"metric":"flood_events_total"}')).toBe(N - 10_000);
    expect(s.get('pipemeter_ingest_events_total{"source":"events","outcome":"accepted"}')).toBe(N);

    const after = heapMiB() - base;
    console.log(`flood: ${N} distinct values in ${seconds.toFixed(1)} s (${Math.round(N / seconds)} events/s); heap above baseline after GC: ${half.toFixed(1)} MiB at ${N / 2}, ${full.toFixed(1)} MiB at ${N}, ${after.toFixed(1)} MiB after a scrape`);
    expect(full).toBeLessThan(SERIES_FLOOD_BOUND_MIB);
    expect(after).toBeLessThan(SERIES_FLOOD_BOUND_MIB);
    expect(Math.abs(full - half)).toBeLessThan(FLAT_MIB);
  }, 120_000);
});

describe('lifecycle table flood: 1 000 000 job events at a table of 10 000', () => {
  it('the table stays at its capacity, each eviction is counted, the gauges follow the table, the heap stays bounded and flat', async () => {
    const base = heapMiB();
    const r = await start('pipelines:\n  video: { stages: [transcription] }\nlimits: { jobs: 10000 }\n');
    const N = 1_000_000;
    // Every job starts; every tenth also finishes at once (so the table holds a mix, and finished keys are remembered).
    const line = (i: number) =>
      i % 10 === 9
        ? `{"type":"job_finished","pipeline":"video","job_id":"j-${i - 1}","outcome":"completed","duration_seconds":1}`
        : `{"type":"job_started","pipeline":"video","job_id":"j-${i}"}`;
    await sendBatches(r, 0, N / 2, 10_000, line);
    const half = heapMiB() - base;
    await sendBatches(r, N / 2, N, 10_000, line);
    const full = heapMiB() - base;

    // The last event finishes the job started just before it, so the full table is one short.
    const tracked = 10_000 - 1;
    expect(r.sidecar.jobs.size).toBe(tracked);
    const s = await samples(r);
    const started = N - N / 10;
    const finished = N / 10;
    expect(s.get('pipeline_jobs_started_total{"pipeline":"video"}')).toBe(started);
    expect(s.get('pipeline_jobs_finished_total{"pipeline":"video","outcome":"completed"}')).toBe(finished);
    // Each job that started and was neither finished nor still tracked was evicted, and counted.
    expect(s.get('pipemeter_jobs_evicted_total{"pipeline":"video","reason":"capacity"}')).toBe(started - finished - tracked);
    expect(s.get('pipemeter_jobs_tracked{"pipeline":"video"}')).toBe(tracked);
    expect(s.get('pipeline_jobs_in_progress{"pipeline":"video"}')).toBe(tracked);

    console.log(`flood: ${N} job events at a table of 10000; heap above baseline after GC: ${half.toFixed(1)} MiB at ${N / 2}, ${full.toFixed(1)} MiB at ${N}`);
    expect(full).toBeLessThan(JOB_FLOOD_BOUND_MIB);
    expect(Math.abs(full - half)).toBeLessThan(FLAT_MIB);
  }, 120_000);
});
