import { describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { lintedExpositions } from '../helpers/exposition.js';

const expo = lintedExpositions();
const lines = (text: string, family: string) =>
  text.split('\n').filter((l) => l.startsWith(family + '{') || l.startsWith(family + '_'));
const nonZero = (ls: string[]) => ls.filter((l) => !/ 0$/.test(l));

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);

describe('pipeline jobs', () => {
  it('derives queue wait, duration, e2e, RTF, in-progress and last success from the job times', async () => {
    const m = createMeter({ defaultMetrics: false });
    const video = m.pipeline('video');
    const job = video.job('job-8f3a', { initiatedAt: T0, queuedAt: new Date(T0 + 2_000), startedAt: T0 + 32_000 });
    expect((await expo.text(m)).includes('pipeline_jobs_in_progress{pipeline="video"} 1')).toBe(true);
    job.stageObserved('transcription', 41.2);
    job.finish('completed', { mediaSeconds: 312, at: T0 + 32_000 + 156_000 });
    const text = await expo.text(m);
    expect(lines(text, 'pipeline_jobs_started_total')).toEqual(['pipeline_jobs_started_total{pipeline="video"} 1']);
    expect(lines(text, 'pipeline_jobs_in_progress')).toEqual(['pipeline_jobs_in_progress{pipeline="video"} 0']);
    expect(nonZero(lines(text, 'pipeline_jobs_finished_total'))).toEqual(['pipeline_jobs_finished_total{pipeline="video",outcome="completed"} 1']);
    expect(lines(text, 'pipeline_queue_wait_seconds')).toContain('pipeline_queue_wait_seconds_sum{pipeline="video"} 30');
    expect(lines(text, 'pipeline_job_duration_seconds')).toContain('pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"} 156');
    expect(lines(text, 'pipeline_job_e2e_duration_seconds')).toContain('pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"} 188');
    expect(lines(text, 'pipeline_realtime_factor')).toContain('pipeline_realtime_factor_sum{pipeline="video"} 0.5');
    expect(lines(text, 'pipeline_realtime_factor')).toContain('pipeline_realtime_factor_bucket{pipeline="video",le="0.5"} 1');
    expect(lines(text, 'pipeline_realtime_factor')).toContain('pipeline_realtime_factor_bucket{pipeline="video",le="0.25"} 0');
    expect(lines(text, 'pipeline_stage_duration_seconds')).toContain(
      'pipeline_stage_duration_seconds_sum{pipeline="video",stage="transcription",outcome="success"} 41.2',
    );
    expect(lines(text, 'pipeline_last_success_timestamp_seconds')).toEqual([
      `pipeline_last_success_timestamp_seconds{pipeline="video"} ${(T0 + 188_000) / 1000}`,
    ]);
  });

  it('uses the queued time for e2e when no initiated time is given, and observes no e2e without either', async () => {
    const m = createMeter({ defaultMetrics: false });
    const p = m.pipeline('images');
    p.job('a', { queuedAt: T0, startedAt: T0 + 1_000 }).finish('completed', { at: T0 + 5_000 });
    p.job('b', { startedAt: T0 }).finish('completed', { at: T0 + 5_000 });
    const text = await expo.text(m);
    expect(lines(text, 'pipeline_job_e2e_duration_seconds')).toContain('pipeline_job_e2e_duration_seconds_count{pipeline="images",outcome="completed"} 1');
    expect(lines(text, 'pipeline_job_e2e_duration_seconds')).toContain('pipeline_job_e2e_duration_seconds_sum{pipeline="images",outcome="completed"} 5');
    expect(lines(text, 'pipeline_job_duration_seconds')).toContain('pipeline_job_duration_seconds_count{pipeline="images",outcome="completed"} 2');
  });

  it('attributes a failed job to the stage that threw, and rethrows', async () => {
    const m = createMeter({ defaultMetrics: false });
    const job = m.pipeline('video', { stages: ['downloading', 'transcription'] }).job('v-2');
    await job.stage('downloading', () => 'file');
    await expect(
      job.stage('transcription', async () => {
        throw new Error('whisper crashed');
      }),
    ).rejects.toThrow('whisper crashed');
    job.finish('failed');
    const text = await expo.text(m);
    expect(lines(text, 'pipeline_job_failures_total')).toEqual([
      'pipeline_job_failures_total{pipeline="video",stage="downloading"} 0',
      'pipeline_job_failures_total{pipeline="video",stage="transcription"} 1',
    ]);
    expect(lines(text, 'pipeline_stage_duration_seconds')).toContain(
      'pipeline_stage_duration_seconds_count{pipeline="video",stage="transcription",outcome="failure"} 1',
    );
    expect(lines(text, 'pipeline_stage_duration_seconds')).toContain(
      'pipeline_stage_duration_seconds_count{pipeline="video",stage="downloading",outcome="success"} 1',
    );
    expect(text).not.toContain('pipeline_last_success_timestamp_seconds{');
  });

  it('counts a second finish as an instrumentation error and changes nothing', async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {} });
    const job = m.pipeline('crawl').job('c-1');
    job.finish('completed');
    job.finish('failed');
    const text = await expo.text(m);
    expect(nonZero(lines(text, 'pipeline_jobs_finished_total'))).toEqual(['pipeline_jobs_finished_total{pipeline="crawl",outcome="completed"} 1']);
    expect(text).toContain('pipemeter_instrumentation_errors_total{reason="job_finished_twice"} 1');
    expect(lines(text, 'pipeline_jobs_in_progress')).toEqual(['pipeline_jobs_in_progress{pipeline="crawl"} 0']);
  });

  it('counts an unknown outcome instead of throwing', async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {} });
    m.pipeline('crawl').job('c-1').finish('exploded' as never);
    expect(await expo.text(m)).toContain('pipemeter_instrumentation_errors_total{reason="job_unknown_outcome"} 1');
  });

  it('counts items by outcome and sets queue depth', async () => {
    const m = createMeter({ defaultMetrics: false });
    const crawl = m.pipeline('crawl');
    crawl.items('indexed', 3);
    crawl.items('failed');
    crawl.setQueueDepth(17);
    const text = await expo.text(m);
    expect(lines(text, 'pipeline_items_total')).toEqual([
      'pipeline_items_total{pipeline="crawl",outcome="indexed"} 3',
      'pipeline_items_total{pipeline="crawl",outcome="failed"} 1',
    ]);
    expect(lines(text, 'pipeline_queue_depth')).toEqual(['pipeline_queue_depth{pipeline="crawl"} 17']);
  });

  it('attaches the job id as an exemplar in OpenMetrics only', async () => {
    const m = createMeter({ defaultMetrics: false });
    m.pipeline('video').job('job-8f3a', { startedAt: T0 }).stageObserved('indexing', 0.3);
    const om = await m.metrics({ openMetrics: true });
    expect(om).toMatch(
      /^pipeline_stage_duration_seconds_bucket\{pipeline="video",stage="indexing",outcome="success",le="0\.5"\} 1 # \{job_id="job-8f3a"\} 0\.3 \d+\.\d{3}$/m,
    );
    expect(await expo.text(m)).not.toContain('job-8f3a');
  });
});
