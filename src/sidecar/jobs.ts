/** The in-flight job table: jobs by pipeline and id, from queued to finished, bounded in size and age, recorded through the Pipeline handles. */
import { type JobOutcome, jobAnomalies } from '../catalog/index.js';
import type { Counter } from '../meter/instruments.js';
import type { Meter } from '../meter/meter.js';
import type { Pipeline } from '../meter/pipeline.js';
import { BoundedSet } from './bounded-set.js';

export type JobAnomaly = (typeof jobAnomalies)[number];

/** One tracked job; times are Unix milliseconds. This is also the snapshot format of a job. */
export interface JobRecord {
  pipeline: string;
  id: string;
  /** When the table first saw the job (the sidecar's clock): the TTL counts from here. */
  createdAt: number;
  queuedAt?: number;
  startedAt?: number;
  initiatedAt?: number;
  failedStage?: string;
}

export interface JobTableOptions {
  /** Jobs held at most; past it the oldest is evicted. */
  capacity: number;
  /** A job not finished this long after it was first seen is evicted as `abandoned`. */
  ttlMs: number;
  /** Finished job keys remembered, so a repeated finish or a late start is recognised. */
  finishedMemory: number;
}

interface Counts {
  tracked: number;
  inProgress: number;
  queued: number;
}

/** What a finish carries beyond the job's own record. */
export interface FinishInput {
  outcome: Exclude<JobOutcome, 'abandoned'>;
  at: number;
  mediaSeconds?: number;
  initiatedAt?: number;
  failedStage?: string;
  /** The duration when the start was never seen. */
  durationSeconds?: number;
}

/** key identifies a job in the table and among the finished keys: its pipeline and id. */
export const jobKey = (pipeline: string, id: string) => pipeline + '\u0001' + id;
const key = jobKey;

/**
 * JobTable derives queue wait, duration, e2e latency and RTF from lifecycle events by job id. It is
 * the source of truth for the in-progress and queue-depth gauges: after each change it sets them.
 * Its per-pipeline counts are kept per pipeline handle: pipelines past the meter's handle cap share
 * the folded handle, so they share one count, and the table's memory is bounded by its capacity and that cap.
 */
export class JobTable {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly finished: BoundedSet;
  private readonly counts = new Map<Pipeline, Counts>();
  private readonly anomalies: Counter<'pipeline' | 'kind'>;
  private cursor: MapIterator<[string, JobRecord]> | undefined;

  constructor(
    private readonly meter: Meter,
    private readonly opts: JobTableOptions,
  ) {
    const forgotten = meter.catalog.tableEvictions.labels({ table: 'finished_jobs' });
    this.finished = new BoundedSet(opts.finishedMemory, () => forgotten.inc());
    this.anomalies = meter.catalog.jobsOutOfOrder;
  }

  get size(): number {
    return this.jobs.size;
  }

  /** pipelineCounts is how many per-pipeline counts the table keeps: at most the meter's pipeline handles, plus the folded one. */
  get pipelineCounts(): number {
    return this.counts.size;
  }

  get(pipeline: string, id: string): JobRecord | undefined {
    return this.jobs.get(key(pipeline, id));
  }

  /** declare starts a pipeline's gauges and out-of-order counters at 0. */
  declare(pipeline: string): void {
    this.countsOf(pipeline);
    if (!this.pipeline(pipeline).folded) for (const kind of jobAnomalies) this.anomalies.zero({ pipeline, kind });
    this.publish(pipeline);
  }

  queued(pipeline: string, id: string, at: number, now: number, initiatedAt?: number): void {
    const k = key(pipeline, id);
    if (this.finished.has(k)) return this.anomaly(pipeline, 'late_event');
    const rec = this.jobs.get(k);
    if (rec !== undefined) return this.anomaly(pipeline, rec.startedAt !== undefined ? 'queued_after_start' : 'duplicate_queued');
    this.insert({ pipeline, id, createdAt: now, queuedAt: at, initiatedAt });
  }

  started(pipeline: string, id: string, at: number, now: number, opts: { queuedAt?: number; initiatedAt?: number } = {}): void {
    const k = key(pipeline, id);
    if (this.finished.has(k)) return this.anomaly(pipeline, 'late_event');
    let rec = this.jobs.get(k);
    if (rec?.startedAt !== undefined) return this.anomaly(pipeline, 'duplicate_start');
    if (rec === undefined) {
      rec = { pipeline, id, createdAt: now, queuedAt: opts.queuedAt, initiatedAt: opts.initiatedAt };
      this.insert(rec, false);
    } else {
      rec.queuedAt ??= opts.queuedAt;
      rec.initiatedAt ??= opts.initiatedAt;
    }
    rec.startedAt = at;
    const c = this.countsOf(pipeline);
    c.queued--;
    c.inProgress++;
    this.pipeline(pipeline).recordStarted({
      jobId: id,
      queueWaitSeconds: rec.queuedAt === undefined ? undefined : Math.max(0, at - rec.queuedAt) / 1000,
    });
    this.publish(pipeline);
  }

  /** stage observes one stage of a job (or of no job); a failed stage is remembered for the failure's attribution. */
  stage(pipeline: string, stage: string, seconds: number, outcome: 'success' | 'failure', id?: string): void {
    if (id !== undefined) {
      const k = key(pipeline, id);
      const rec = this.jobs.get(k);
      if (rec !== undefined) {
        if (outcome === 'failure') rec.failedStage = stage;
      } else if (!this.finished.has(k)) {
        // Stages after the finish are normal (indexing the last pages of a crawl); before any start they are not.
        this.anomaly(pipeline, 'stage_unknown_job');
      }
    }
    this.pipeline(pipeline).recordStage(stage, seconds, outcome, id);
  }

  finish(pipeline: string, id: string, f: FinishInput): void {
    const k = key(pipeline, id);
    if (this.finished.has(k)) return this.anomaly(pipeline, 'duplicate_finish');
    const rec = this.jobs.get(k);
    if (rec === undefined) this.anomaly(pipeline, 'finish_unknown_job');
    else this.remove(k, rec);
    this.finished.add(k);
    const startedAt = rec?.startedAt;
    const from = f.initiatedAt ?? rec?.initiatedAt ?? rec?.queuedAt;
    this.pipeline(pipeline).recordFinished({
      outcome: f.outcome,
      durationSeconds: startedAt !== undefined ? Math.max(0, f.at - startedAt) / 1000 : f.durationSeconds,
      e2eSeconds: from === undefined ? undefined : Math.max(0, f.at - from) / 1000,
      mediaSeconds: f.mediaSeconds,
      failedStage: f.failedStage ?? rec?.failedStage,
      jobId: id,
      at: f.at,
    });
    this.publish(pipeline);
  }

  /**
   * sweep evicts jobs older than the TTL as `abandoned`; returns how many went. It looks at every job: the table's
   * order is the order jobs arrived in, which a restored file or a clock stepped back can make other than their age.
   */
  sweep(now: number): number {
    let n = 0;
    for (const [k, rec] of this.jobs) {
      if (now - rec.createdAt < this.opts.ttlMs) continue;
      this.remove(k, rec);
      this.finished.add(k);
      this.inPipeline(this.meter.catalog.jobsEvicted, rec.pipeline, { reason: 'ttl' });
      this.pipeline(rec.pipeline).recordFinished({ outcome: 'abandoned', jobId: rec.id, at: now });
      this.publish(rec.pipeline);
      n++;
    }
    return n;
  }

  /** snapshot lists the tracked jobs, oldest first, and the recently finished keys. */
  snapshot(): { jobs: JobRecord[]; finished: string[] } {
    return { jobs: [...this.jobs.values()].map((r) => ({ ...r })), finished: this.finished.values() };
  }

  /** restore loads a snapshot (replacing nothing counted: counters restart with the process, gauges follow the table). */
  restore(s: { jobs: readonly JobRecord[]; finished: readonly string[] }): void {
    for (const k of s.finished) this.restoreFinished(k);
    for (const rec of s.jobs) this.restoreJob(rec);
    this.publishAll();
  }

  /** restoreFinished remembers a finished key from a state file; a tracked job of that key is over, and goes. */
  restoreFinished(k: string): void {
    const rec = this.jobs.get(k);
    if (rec !== undefined) this.remove(k, rec);
    this.finished.add(k);
  }

  /**
   * restoreJob puts a validated job record from a state file back in the table (past its capacity the oldest goes, as
   * for any insert); a job the table already has, or whose finish is remembered, is skipped. The gauges follow at publishAll().
   */
  restoreJob(rec: JobRecord): boolean {
    const k = key(rec.pipeline, rec.id);
    if (this.jobs.has(k) || this.finished.has(k)) return false;
    this.insert({ ...rec }, false);
    if (rec.startedAt !== undefined) {
      const c = this.countsOf(rec.pipeline);
      c.queued--;
      c.inProgress++;
    }
    return true;
  }

  /** publishAll sets every pipeline's gauges from the table. */
  publishAll(): void {
    for (const p of this.counts.keys()) this.publishHandle(p);
  }

  private insert(rec: JobRecord, publish = true): void {
    if (this.jobs.size >= this.opts.capacity) {
      const [oldestKey, oldest] = this.oldest();
      this.remove(oldestKey, oldest);
      this.inPipeline(this.meter.catalog.jobsEvicted, oldest.pipeline, { reason: 'capacity' });
      this.publish(oldest.pipeline);
    }
    this.jobs.set(key(rec.pipeline, rec.id), rec);
    const c = this.countsOf(rec.pipeline);
    c.tracked++;
    // Every job enters as queued; started() moves it to in progress.
    c.queued++;
    if (publish) this.publish(rec.pipeline);
  }

  /**
   * oldest returns the oldest tracked job. A Map iterator is live: everything before the cursor was
   * evicted through it, so its next entry is the oldest. A fresh `entries().next()` per eviction would
   * walk over every slot deleted at the front of the table, which made a full table quadratic.
   */
  private oldest(): [string, JobRecord] {
    let r = this.cursor?.next();
    if (r === undefined || r.done === true) {
      this.cursor = this.jobs.entries();
      r = this.cursor.next();
    }
    return r.value as [string, JobRecord];
  }

  private remove(k: string, rec: JobRecord): void {
    this.jobs.delete(k);
    const c = this.countsOf(rec.pipeline);
    c.tracked--;
    if (rec.startedAt !== undefined) c.inProgress--;
    else c.queued--;
  }

  private countsOf(pipeline: string): Counts {
    const p = this.pipeline(pipeline);
    let c = this.counts.get(p);
    if (c === undefined) {
      c = { tracked: 0, inProgress: 0, queued: 0 };
      this.counts.set(p, c);
    }
    return c;
  }

  private publish(pipeline: string): void {
    this.publishHandle(this.pipeline(pipeline));
  }

  private publishHandle(p: Pipeline): void {
    const c = this.counts.get(p);
    if (c === undefined) return;
    p.setInProgress(c.inProgress);
    p.setQueueDepth(c.queued);
    if (p.folded) this.meter.catalog.jobsTracked.overflow().set(c.tracked);
    else this.meter.catalog.jobsTracked.labels({ pipeline: p.name }).set(c.tracked);
  }

  private pipeline(name: string): Pipeline {
    return this.meter.pipeline(name);
  }

  /** inPipeline counts one in a family labelled by pipeline; a folded pipeline counts into the overflow series. */
  private inPipeline<K extends string>(c: Counter<'pipeline' | K>, pipeline: string, labels: Record<K, string>): void {
    const p = this.pipeline(pipeline);
    if (p.folded) c.overflow().inc();
    else c.inc({ ...labels, pipeline: p.name } as Record<'pipeline' | K, string>);
  }

  private anomaly(pipeline: string, kind: JobAnomaly): void {
    this.inPipeline(this.anomalies, pipeline, { kind });
  }
}
