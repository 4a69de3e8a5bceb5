/** Pipeline handles and jobs: queue wait, stages, duration, e2e latency, real-time factor and outcome of each job. */
import { type JobOutcome, type StageOutcome, jobOutcomes, stageOutcomes } from '../catalog/index.js';
import type { CatalogInstruments } from './catalog-instruments.js';
import type { InstrumentationErrorReason } from './errors.js';
import type { FamilyContext } from './family.js';
import type { BoundCounter, BoundGauge, BoundHistogram } from './instruments.js';
import { toMillis } from './scraper.js';

export type Instant = Date | number;

export interface JobOptions {
  /** When the job was queued (Date or Unix ms): gives queue wait, and e2e when initiatedAt is absent. */
  queuedAt?: Instant;
  /** When the caller asked for the work (Date or Unix ms): gives e2e latency. */
  initiatedAt?: Instant;
  /** When processing started; default now. */
  startedAt?: Instant;
}

export interface FinishOptions {
  /** Seconds of media processed: gives the real-time factor (processing seconds / media seconds). */
  mediaSeconds?: number;
  /** The stage that failed, for a failed job; default the last stage that failed in job.stage(). */
  failedStage?: string;
  /** When the job finished; default now. */
  at?: Instant;
}

/** A finished job measured elsewhere (the sidecar's job table): what the pipeline records for it. */
export interface FinishedJob {
  outcome: JobOutcome;
  durationSeconds?: number;
  e2eSeconds?: number;
  mediaSeconds?: number;
  failedStage?: string;
  jobId?: string;
  at?: Instant;
}

type PerOutcome<T> = Record<JobOutcome, T>;

/**
 * A pipeline's handle. The meter holds a bounded number of them; a name past the bound gets the folded handle
 * (`folded`, named `__overflow__`), which records every write into the families' overflow series, each counted as a fold.
 */
export class Pipeline {
  private readonly started: BoundCounter;
  private readonly inProgress: BoundGauge;
  private readonly queueDepth: BoundGauge;
  private readonly queueWait: BoundHistogram;
  private readonly rtf: BoundHistogram;
  private readonly finished: PerOutcome<BoundCounter>;
  private readonly durations: PerOutcome<BoundHistogram>;
  private readonly e2e: PerOutcome<BoundHistogram>;

  constructor(
    readonly name: string,
    private readonly c: CatalogInstruments,
    private readonly ctx: FamilyContext,
    opts: { stages?: readonly string[] } = {},
    readonly folded = false,
  ) {
    const pipeline = name;
    this.started = folded ? c.pipelineJobsStarted.overflow() : c.pipelineJobsStarted.labels({ pipeline });
    this.inProgress = folded ? c.pipelineJobsInProgress.overflow() : c.pipelineJobsInProgress.labels({ pipeline });
    this.queueDepth = folded ? c.pipelineQueueDepth.overflow() : c.pipelineQueueDepth.labels({ pipeline });
    this.queueWait = folded ? c.pipelineQueueWait.overflow() : c.pipelineQueueWait.labels({ pipeline });
    this.rtf = folded ? c.pipelineRealtimeFactor.overflow() : c.pipelineRealtimeFactor.labels({ pipeline });
    const per = <T>(f: (outcome: JobOutcome) => T) =>
      Object.fromEntries(jobOutcomes.map((o) => [o, f(o)])) as PerOutcome<T>;
    this.finished = per((outcome) => (folded ? c.pipelineJobsFinished.overflow() : c.pipelineJobsFinished.labels({ pipeline, outcome })));
    this.durations = per((outcome) => (folded ? c.pipelineJobDuration.overflow() : c.pipelineJobDuration.labels({ pipeline, outcome })));
    this.e2e = per((outcome) => (folded ? c.pipelineJobE2eDuration.overflow() : c.pipelineJobE2eDuration.labels({ pipeline, outcome })));
    if (folded) return;
    for (const stage of opts.stages ?? []) {
      for (const outcome of stageOutcomes) c.pipelineStageDuration.zero({ pipeline, stage, outcome });
      c.pipelineJobFailures.zero({ pipeline, stage });
    }
  }

  /** job starts tracking one job in this process; its id travels as an exemplar, never as a label. */
  job(id: string, opts: JobOptions = {}): Job {
    return new Job(this, String(id), opts);
  }

  /** recordStarted counts a job that started; queueWaitSeconds is observed when known. */
  recordStarted(opts: { jobId?: string; queueWaitSeconds?: number } = {}): void {
    this.started.inc();
    this.inProgress.inc();
    if (opts.queueWaitSeconds !== undefined) this.queueWait.observe(opts.queueWaitSeconds, exemplar(opts.jobId));
  }

  recordStage(stage: string, seconds: number, outcome: StageOutcome, jobId?: string): void {
    if (this.folded) return this.c.pipelineStageDuration.overflow().observe(seconds, exemplar(jobId));
    this.c.pipelineStageDuration.observe(
      { pipeline: this.name, stage, outcome: outcome === 'failure' ? 'failure' : 'success' },
      seconds,
      exemplar(jobId),
    );
  }

  /** recordFinished counts a finished job, observes its durations and RTF, and attributes a failure to its stage. */
  recordFinished(j: FinishedJob): void {
    const outcome = j.outcome;
    const finished = this.finished[outcome];
    if (finished === undefined) {
      this.error('job_unknown_outcome');
      return;
    }
    const ex = exemplar(j.jobId);
    finished.inc(1, ex);
    this.inProgress.dec();
    if (j.durationSeconds !== undefined) {
      this.durations[outcome].observe(j.durationSeconds, ex);
      if (j.mediaSeconds !== undefined && j.mediaSeconds > 0) this.rtf.observe(j.durationSeconds / j.mediaSeconds, ex);
    }
    if (j.e2eSeconds !== undefined) this.e2e[outcome].observe(j.e2eSeconds, ex);
    if (outcome === 'failed') {
      if (this.folded) this.c.pipelineJobFailures.overflow().inc(1, ex);
      else this.c.pipelineJobFailures.inc({ pipeline: this.name, stage: j.failedStage ?? 'unknown' }, 1, ex);
    }
    if (outcome === 'completed') {
      if (this.folded) this.c.pipelineLastSuccess.overflow().set(toMillis(j.at) / 1000);
      else this.c.pipelineLastSuccess.set({ pipeline: this.name }, toMillis(j.at) / 1000);
    }
  }

  /** items counts items a job processed, e.g. pages `indexed` or `failed`. */
  items(outcome: string, count = 1): void {
    if (this.folded) this.c.pipelineItems.overflow().inc(count);
    else this.c.pipelineItems.inc({ pipeline: this.name, outcome }, count);
  }

  /** error counts a recording call that was ignored. */
  error(reason: InstrumentationErrorReason): void {
    this.ctx.error(reason);
  }

  setQueueDepth(n: number): void {
    this.queueDepth.set(n);
  }

  /** setInProgress overrides the in-progress gauge, e.g. after a job table is restored from a snapshot. */
  setInProgress(n: number): void {
    this.inProgress.set(n);
  }
}

function exemplar(jobId: string | undefined): Readonly<Record<string, string>> | undefined {
  return jobId === undefined ? undefined : { job_id: jobId };
}

export class Job {
  private readonly startedMs: number;
  private readonly e2eFromMs: number | undefined;
  private failedStage: string | undefined;
  private done = false;

  constructor(
    readonly pipeline: Pipeline,
    readonly id: string,
    opts: JobOptions,
  ) {
    this.startedMs = toMillis(opts.startedAt);
    const queuedMs = opts.queuedAt === undefined ? undefined : toMillis(opts.queuedAt);
    const initiatedMs = opts.initiatedAt === undefined ? undefined : toMillis(opts.initiatedAt);
    this.e2eFromMs = initiatedMs ?? queuedMs;
    pipeline.recordStarted({
      jobId: id,
      queueWaitSeconds: queuedMs === undefined ? undefined : Math.max(0, this.startedMs - queuedMs) / 1000,
    });
  }

  /** stage times fn as one stage of this job: outcome failure when it throws (and rethrows). */
  async stage<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const out = await fn();
      this.pipeline.recordStage(name, (performance.now() - t0) / 1000, 'success', this.id);
      return out;
    } catch (err) {
      this.pipeline.recordStage(name, (performance.now() - t0) / 1000, 'failure', this.id);
      this.failedStage = name;
      throw err;
    }
  }

  /** stageObserved records a stage measured elsewhere. */
  stageObserved(name: string, seconds: number, outcome: StageOutcome = 'success'): void {
    this.pipeline.recordStage(name, seconds, outcome, this.id);
    if (outcome === 'failure') this.failedStage = name;
  }

  /** finish records the job's outcome, durations and RTF; a second finish is ignored and counted. */
  finish(outcome: JobOutcome, opts: FinishOptions = {}): void {
    if (this.done) {
      this.pipeline.error('job_finished_twice');
      return;
    }
    this.done = true;
    const endMs = toMillis(opts.at);
    this.pipeline.recordFinished({
      outcome,
      durationSeconds: Math.max(0, endMs - this.startedMs) / 1000,
      e2eSeconds: this.e2eFromMs === undefined ? undefined : Math.max(0, endMs - this.e2eFromMs) / 1000,
      mediaSeconds: opts.mediaSeconds,
      failedStage: opts.failedStage ?? this.failedStage,
      jobId: this.id,
      at: endMs,
    });
  }
}
