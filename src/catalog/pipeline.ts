/** Pipeline families: jobs that are queued, run through named stages, and finish with an outcome. */
import { jobSeconds, queueWaitSeconds, realtimeFactor, stageSeconds } from './buckets.js';
import { counter, gauge, histogram } from './family.js';

/** `abandoned` is set by the sidecar when a job is evicted without ever finishing. */
export const jobOutcomes = ['completed', 'failed', 'cancelled', 'abandoned'] as const;
export type JobOutcome = (typeof jobOutcomes)[number];

export const stageOutcomes = ['success', 'failure'] as const;
export type StageOutcome = (typeof stageOutcomes)[number];

export const pipelineJobsStarted = counter({
  name: 'pipeline_jobs_started_total',
  help: 'Jobs that started processing.',
  labels: ['pipeline'],
  domain: 'pipeline',
});

export const pipelineJobsFinished = counter({
  name: 'pipeline_jobs_finished_total',
  help: 'Jobs that finished, by outcome.',
  labels: ['pipeline', 'outcome'],
  domain: 'pipeline',
  values: { outcome: jobOutcomes },
});

export const pipelineJobsInProgress = gauge({
  name: 'pipeline_jobs_in_progress',
  help: 'Jobs started and not yet finished.',
  labels: ['pipeline'],
  domain: 'pipeline',
  aggregate: 'sum',
});

export const pipelineQueueDepth = gauge({
  name: 'pipeline_queue_depth',
  help: 'Jobs queued and not yet started.',
  labels: ['pipeline'],
  domain: 'pipeline',
  // Workers read the depth of the queue they share: summing would count it once per worker.
  aggregate: 'max',
});

export const pipelineJobDuration = histogram({
  name: 'pipeline_job_duration_seconds',
  help: 'Processing time of one job, from start to finish, by outcome.',
  labels: ['pipeline', 'outcome'],
  domain: 'pipeline',
  unit: 'seconds',
  buckets: jobSeconds,
  native: true,
  values: { outcome: jobOutcomes },
});

export const pipelineJobE2eDuration = histogram({
  name: 'pipeline_job_e2e_duration_seconds',
  help: 'End-to-end time of one job, from request (or queueing) to finish, by outcome.',
  labels: ['pipeline', 'outcome'],
  domain: 'pipeline',
  unit: 'seconds',
  buckets: jobSeconds,
  native: true,
  values: { outcome: jobOutcomes },
});

export const pipelineQueueWait = histogram({
  name: 'pipeline_queue_wait_seconds',
  help: 'Time a job waited in the queue, from queued to started.',
  labels: ['pipeline'],
  domain: 'pipeline',
  unit: 'seconds',
  buckets: queueWaitSeconds,
  native: true,
});

export const pipelineStageDuration = histogram({
  name: 'pipeline_stage_duration_seconds',
  help: 'Time spent in one pipeline stage, by outcome.',
  labels: ['pipeline', 'stage', 'outcome'],
  domain: 'pipeline',
  unit: 'seconds',
  buckets: stageSeconds,
  native: true,
  values: { outcome: stageOutcomes },
});

export const pipelineJobFailures = counter({
  name: 'pipeline_job_failures_total',
  help: 'Jobs that failed, by the stage that failed.',
  labels: ['pipeline', 'stage'],
  domain: 'pipeline',
});

export const pipelineItems = counter({
  name: 'pipeline_items_total',
  help: 'Items a pipeline processed (for example pages indexed or failed), by outcome.',
  labels: ['pipeline', 'outcome'],
  domain: 'pipeline',
});

export const pipelineRealtimeFactor = histogram({
  name: 'pipeline_realtime_factor',
  help: 'Processing seconds per second of media, one observation per finished job.',
  labels: ['pipeline'],
  domain: 'pipeline',
  buckets: realtimeFactor,
});

export const pipelineLastSuccess = gauge({
  name: 'pipeline_last_success_timestamp_seconds',
  help: 'Unix time of the last job that completed.',
  labels: ['pipeline'],
  domain: 'pipeline',
  unit: 'seconds',
  aggregate: 'max',
});

export const pipelineFamilies = [
  pipelineJobsStarted,
  pipelineJobsFinished,
  pipelineJobsInProgress,
  pipelineQueueDepth,
  pipelineJobDuration,
  pipelineJobE2eDuration,
  pipelineQueueWait,
  pipelineStageDuration,
  pipelineJobFailures,
  pipelineItems,
  pipelineRealtimeFactor,
  pipelineLastSuccess,
] as const;
