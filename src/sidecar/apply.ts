/** Applies typed ingest events and Firecrawl webhooks to the meter and the job table: the only place an event becomes a recording. */
import type { Meter } from '../meter/meter.js';
import type { Counter, Gauge, Histogram } from '../meter/instruments.js';
import type { IngestEvent } from './events.js';
import type { FirecrawlEvent } from './firecrawl.js';
import type { JobTable } from './jobs.js';

/** A declared custom family as the sidecar writes it. */
export type CustomInstrument =
  | { type: 'counter'; labels: readonly string[]; instrument: Counter }
  | { type: 'gauge'; labels: readonly string[]; instrument: Gauge }
  | { type: 'histogram'; labels: readonly string[]; instrument: Histogram };

export interface ApplyTarget {
  meter: Meter;
  jobs: JobTable;
  families: ReadonlyMap<string, CustomInstrument>;
  /** The sidecar's clock, Unix ms: when the job table first saw a job. */
  now: number;
}

/** applyEvent records one validated event. Events were validated at the edge; nothing here re-checks them. */
export function applyEvent(e: IngestEvent, t: ApplyTarget): void {
  switch (e.type) {
    case 'item_created':
      t.meter.scraper(e.scraper).itemCreated(e.itemType, e.source, e.count);
      return;
    case 'schema_error':
      t.meter.scraper(e.scraper).schemaError(e.errorType, e.itemType, e.count);
      return;
    case 'scraper_run':
      t.meter.scraper(e.scraper).recordRun({ outcome: e.outcome, durationSeconds: e.durationSeconds, at: e.at });
      return;
    case 'job_queued':
      t.jobs.queued(e.pipeline, e.jobId, e.at, t.now, e.initiatedAt);
      return;
    case 'job_started':
      t.jobs.started(e.pipeline, e.jobId, e.at, t.now, { queuedAt: e.queuedAt, initiatedAt: e.initiatedAt });
      return;
    case 'stage':
      t.jobs.stage(e.pipeline, e.stage, e.durationSeconds, e.outcome, e.jobId);
      return;
    case 'job_finished':
      t.jobs.finish(e.pipeline, e.jobId, {
        outcome: e.outcome,
        at: e.at,
        mediaSeconds: e.mediaSeconds,
        initiatedAt: e.initiatedAt,
        failedStage: e.failedStage,
        durationSeconds: e.durationSeconds,
      });
      return;
    case 'items':
      t.meter.pipeline(e.pipeline).items(e.outcome, e.count);
      return;
    case 'metric': {
      const f = t.families.get(e.name)!;
      if (f.type === 'counter') f.instrument.inc(e.labels, e.value);
      else if (f.type === 'gauge') f.instrument.set(e.labels, e.value);
      else f.instrument.observe(e.labels, e.value);
      return;
    }
  }
}

/**
 * applyFirecrawl maps one validated Firecrawl event onto the job lifecycle of a pipeline. Firecrawl events carry no
 * time of their own: they happen when they arrive, at `t.now`.
 */
export function applyFirecrawl(pipeline: string, e: FirecrawlEvent, t: Pick<ApplyTarget, 'jobs' | 'meter' | 'now'>): void {
  const now = t.now;
  switch (e.type) {
    case 'crawl.started':
      t.jobs.started(pipeline, e.id, now, now, { initiatedAt: e.initiatedAt });
      return;
    case 'crawl.page':
      t.meter.pipeline(pipeline).items(e.success ? 'indexed' : 'failed', Math.max(1, e.pages.length));
      for (const page of e.pages) {
        for (const [stage, seconds] of Object.entries(page.timings)) t.jobs.stage(pipeline, stage, seconds, 'success', e.id);
      }
      return;
    case 'crawl.completed':
      t.jobs.finish(pipeline, e.id, { outcome: 'completed', at: now, initiatedAt: e.initiatedAt });
      return;
    case 'crawl.failed':
      t.jobs.finish(pipeline, e.id, { outcome: 'failed', at: now, initiatedAt: e.initiatedAt, failedStage: 'crawl' });
      return;
    case 'crawl.cancelled':
      t.jobs.finish(pipeline, e.id, { outcome: 'cancelled', at: now, initiatedAt: e.initiatedAt });
      return;
  }
}
