import { describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { JobTable } from '../../src/sidecar/jobs.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { sampleLines } from './fixtures.js';

const S = 1000;
const lint = lintedExpositions();

function table(opts: Partial<{ capacity: number; ttlMs: number }> = {}) {
  const meter = createMeter({ defaultMetrics: false });
  const jobs = new JobTable(meter, { capacity: opts.capacity ?? 100, ttlMs: opts.ttlMs ?? 3600 * S, finishedMemory: 100 });
  return { meter, jobs };
}

describe('JobTable derives the job metrics', () => {
  it('queue wait, duration, e2e from initiated_at, RTF, and the gauges, as exact lines', async () => {
    const { meter, jobs } = table();
    jobs.declare('video');
    jobs.queued('video', 'v-1', 0, 0);
    const queued = await lint.text(meter);
    expect(sampleLines(queued, 'pipeline_queue_depth', 'pipeline_jobs_in_progress', 'pipemeter_jobs_tracked')).toEqual([
      'pipeline_jobs_in_progress{pipeline="video"} 0',
      'pipeline_queue_depth{pipeline="video"} 1',
      'pipemeter_jobs_tracked{pipeline="video"} 1',
    ]);
    jobs.started('video', 'v-1', 30 * S, 30 * S);
    jobs.stage('video', 'transcription', 41.2, 'success', 'v-1');
    jobs.finish('video', 'v-1', { outcome: 'completed', at: 126 * S, mediaSeconds: 312, initiatedAt: -10 * S });
    const text = await lint.text(meter);
    expect(sampleLines(text, 'pipeline_queue_wait_seconds_sum', 'pipeline_queue_wait_seconds_count')).toEqual([
      'pipeline_queue_wait_seconds_sum{pipeline="video"} 30',
      'pipeline_queue_wait_seconds_count{pipeline="video"} 1',
    ]);
    expect(sampleLines(text, 'pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"}')).toEqual(['pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"} 96']);
    expect(sampleLines(text, 'pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"}')).toEqual(['pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"} 136']);
    expect(sampleLines(text, 'pipeline_realtime_factor_sum')).toEqual([`pipeline_realtime_factor_sum{pipeline="video"} ${96 / 312}`]);
    expect(sampleLines(text, 'pipeline_stage_duration_seconds_sum')).toEqual(['pipeline_stage_duration_seconds_sum{pipeline="video",stage="transcription",outcome="success"} 41.2']);
    expect(sampleLines(text, 'pipeline_queue_depth', 'pipeline_jobs_in_progress', 'pipemeter_jobs_tracked', 'pipeline_jobs_started_total')).toEqual([
      'pipeline_jobs_started_total{pipeline="video"} 1',
      'pipeline_jobs_in_progress{pipeline="video"} 0',
      'pipeline_queue_depth{pipeline="video"} 0',
      'pipemeter_jobs_tracked{pipeline="video"} 0',
    ]);
    const om = await meter.metrics({ openMetrics: true });
    expect(om).toMatch(/^pipeline_jobs_finished_total\{pipeline="video",outcome="completed"\} 1 # \{job_id="v-1"\} 1 \d+\.\d{3}$/m);
  });

  it('e2e falls back to the queued time; a failure is attributed to the failed stage', async () => {
    const { meter, jobs } = table();
    jobs.queued('img', 'c-1', 0, 0);
    jobs.started('img', 'c-1', 5 * S, 5 * S);
    jobs.stage('img', 'validate', 0.5, 'failure', 'c-1');
    jobs.finish('img', 'c-1', { outcome: 'failed', at: 8 * S });
    const text = await lint.text(meter);
    expect(sampleLines(text, 'pipeline_job_e2e_duration_seconds_sum{pipeline="img",outcome="failed"}', 'pipeline_job_failures_total')).toEqual([
      'pipeline_job_e2e_duration_seconds_sum{pipeline="img",outcome="failed"} 8',
      'pipeline_job_failures_total{pipeline="img",stage="validate"} 1',
    ]);
  });
});

describe('JobTable: events out of order are counted, never fatal', () => {
  type Op = (j: JobTable) => void;
  const start: Op = (j) => j.started('p', 'j', 10 * S, 10 * S);
  const queue: Op = (j) => j.queued('p', 'j', 0, 0);
  const finish: Op = (j) => j.finish('p', 'j', { outcome: 'completed', at: 20 * S, durationSeconds: 7 });
  const stage: Op = (j) => j.stage('p', 'download', 1, 'success', 'j');

  it.each([
    ['finish before start, then the start', [finish, start], { finish_unknown_job: 1, late_event: 1 }, { started: 0, finished: 1, durationSum: 7 }],
    ['duplicate start', [start, start, finish], { duplicate_start: 1 }, { started: 1, finished: 1, durationSum: 10 }],
    ['duplicate finish', [start, finish, finish], { duplicate_finish: 1 }, { started: 1, finished: 1, durationSum: 10 }],
    ['queued after start', [start, queue, finish], { queued_after_start: 1 }, { started: 1, finished: 1, durationSum: 10 }],
    ['queued twice', [queue, queue, start, finish], { duplicate_queued: 1 }, { started: 1, finished: 1, durationSum: 10 }],
    ['stage of an unknown job', [stage], { stage_unknown_job: 1 }, { started: 0, finished: 0, durationSum: 0 }],
    ['stage after the finish is normal', [start, finish, stage], {}, { started: 1, finished: 1, durationSum: 10 }],
  ])('%s', async (_what, ops, kinds, want) => {
    const { meter, jobs } = table();
    jobs.declare('p');
    for (const op of ops) op(jobs);
    const text = await meter.metrics();
    const counted = Object.fromEntries(
      sampleLines(text, 'pipemeter_jobs_out_of_order_total')
        .map((l) => /kind="(\w+)"\} (\d+)/.exec(l)!)
        .filter((m) => m[2] !== '0')
        .map((m) => [m[1], Number(m[2])]),
    );
    expect(counted).toEqual(kinds);
    expect(meter.catalog.pipelineJobsStarted.labels({ pipeline: 'p' }).value).toBe(want.started);
    expect(meter.catalog.pipelineJobsFinished.labels({ pipeline: 'p', outcome: 'completed' }).value).toBe(want.finished);
    expect(sampleLines(text, 'pipeline_job_duration_seconds_sum{pipeline="p",outcome="completed"}')).toEqual([`pipeline_job_duration_seconds_sum{pipeline="p",outcome="completed"} ${want.durationSum}`]);
    expect(sampleLines(text, 'pipeline_jobs_in_progress{pipeline="p"}')).toEqual(['pipeline_jobs_in_progress{pipeline="p"} 0']);
  });
});

describe('JobTable is bounded', () => {
  it('past capacity the oldest job is evicted and counted', async () => {
    const { meter, jobs } = table({ capacity: 2 });
    for (const id of ['a', 'b', 'c']) jobs.started('p', id, 0, 0);
    expect(jobs.get('p', 'a')).toBeUndefined();
    expect(jobs.get('p', 'c')).toBeDefined();
    const text = await lint.text(meter);
    expect(sampleLines(text, 'pipemeter_jobs_evicted_total', 'pipemeter_jobs_tracked', 'pipeline_jobs_in_progress')).toEqual([
      'pipeline_jobs_in_progress{pipeline="p"} 2',
      'pipemeter_jobs_tracked{pipeline="p"} 2',
      'pipemeter_jobs_evicted_total{pipeline="p",reason="capacity"} 1',
    ]);
  });

  it('capacity eviction takes the oldest job still tracked, skipping finished ones', () => {
    const { jobs } = table({ capacity: 3 });
    for (const id of ['a', 'b', 'c']) jobs.started('p', id, 0, 0);
    jobs.finish('p', 'b', { outcome: 'completed', at: 1 });
    jobs.started('p', 'd', 0, 0);
    jobs.started('p', 'e', 0, 0);
    // d fitted in b's place; e pushed out a, the oldest.
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => jobs.get('p', id) !== undefined)).toEqual([false, false, true, true, true]);
    jobs.started('p', 'f', 0, 0);
    jobs.started('p', 'g', 0, 0);
    expect(jobs.snapshot().jobs.map((j) => j.id)).toEqual(['e', 'f', 'g']);
  });

  // No clock here (speed is the benchmarks' business): a quadratic eviction would make this run hit the test timeout.
  it('a full table evicts and counts through 300 000 starts into 100 000 slots', () => {
    const { meter } = table();
    const jobs = new JobTable(meter, { capacity: 100_000, ttlMs: 3600 * S, finishedMemory: 100_000 });
    for (let i = 0; i < 300_000; i++) jobs.started('p', `j${i}`, 0, 0);
    expect(jobs.size).toBe(100_000);
    expect(meter.catalog.jobsEvicted.labels({ pipeline: 'p', reason: 'capacity' }).value).toBe(200_000);
  });

  it('a job past its TTL is finished as abandoned and counted', async () => {
    const { meter, jobs } = table({ ttlMs: 60 * S });
    jobs.started('p', 'old', 0, 0);
    jobs.queued('p', 'young', 30 * S, 30 * S);
    expect(jobs.sweep(59 * S)).toBe(0);
    expect(jobs.sweep(60 * S)).toBe(1);
    const text = await lint.text(meter);
    expect(sampleLines(text, 'pipemeter_jobs_evicted_total', 'pipeline_jobs_finished_total{pipeline="p",outcome="abandoned"}', 'pipeline_jobs_in_progress', 'pipeline_queue_depth')).toEqual([
      'pipeline_jobs_finished_total{pipeline="p",outcome="abandoned"} 1',
      'pipeline_jobs_in_progress{pipeline="p"} 0',
      'pipeline_queue_depth{pipeline="p"} 1',
      'pipemeter_jobs_evicted_total{pipeline="p",reason="ttl"} 1',
    ]);
    // The abandoned job's late finish is a duplicate, not a second outcome.
    jobs.finish('p', 'old', { outcome: 'completed', at: 61 * S });
    expect(meter.catalog.pipelineJobsFinished.labels({ pipeline: 'p', outcome: 'completed' }).value).toBe(0);
  });
});

describe('JobTable snapshot', () => {
  it('a restored job keeps its start time; gauges follow the restored table', async () => {
    const first = table();
    first.jobs.queued('crawl', 'q', 0, 0);
    first.jobs.started('crawl', 'c-1', 100 * S, 100 * S, { initiatedAt: 90 * S });
    first.jobs.started('crawl', 'done', 0, 0);
    first.jobs.finish('crawl', 'done', { outcome: 'completed', at: 1 * S });
    const snap = JSON.parse(JSON.stringify(first.jobs.snapshot()));

    const second = table();
    second.jobs.restore(snap);
    expect(sampleLines(await lint.text(second.meter), 'pipeline_jobs_in_progress', 'pipeline_queue_depth', 'pipemeter_jobs_tracked')).toEqual([
      'pipeline_jobs_in_progress{pipeline="crawl"} 1',
      'pipeline_queue_depth{pipeline="crawl"} 1',
      'pipemeter_jobs_tracked{pipeline="crawl"} 2',
    ]);
    second.jobs.finish('crawl', 'c-1', { outcome: 'completed', at: 400 * S });
    second.jobs.finish('crawl', 'done', { outcome: 'completed', at: 400 * S });
    const text = await lint.text(second.meter);
    expect(sampleLines(text, 'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"}', 'pipeline_job_e2e_duration_seconds_sum{pipeline="crawl",outcome="completed"}')).toEqual([
      'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"} 300',
      'pipeline_job_e2e_duration_seconds_sum{pipeline="crawl",outcome="completed"} 310',
    ]);
    expect(sampleLines(text, 'pipemeter_jobs_out_of_order_total{pipeline="crawl",kind="duplicate_finish"}')).toEqual(['pipemeter_jobs_out_of_order_total{pipeline="crawl",kind="duplicate_finish"} 1']);
  });
});
