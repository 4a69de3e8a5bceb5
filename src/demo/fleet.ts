/**
 * The demo fleet: scrapers, a Firecrawl-driven crawl pipeline, video workers and Celery image jobs,
 * simulated on an accelerated clock and turned into the events and webhooks a real fleet would send.
 */
import { Random } from './random.js';

/** Scenarios, named by the alert each one makes fire. */
export const scenarios = {
  ScraperNoItemsCreated: 'livetracklist runs and succeeds but creates no items from the start',
  ScraperHighSchemaErrorRate: 'mixesdb rejects 20 % of its items as schema errors',
  ScraperItemRateDrop: 'beatport creates a fifth of its usual items after the first simulated day',
  ScraperNoRecentSuccess: 'reddit fails every run',
  ProbeFailing: "soundcloud's health endpoint answers 500",
  PipelineStageLatencyHigh: 'video transcription takes ten times longer',
  PipelineFailureRateHigh: 'a third of image validations fail',
  PipelineQueueBacklog: 'video jobs arrive six times as often, more than the three workers can take',
  PipelineJobsStuck: 'image jobs start and never finish',
  PipelineHighRealtimeFactor: 'video processing runs at three times real time',
  PipelineErrorBudgetFastBurn: 'half of all crawls fail',
  PipelineErrorBudgetSlowBurn: 'one crawl in ten fails',
  PipemeterIngestRejected: 'image workers send the validate stage\'s duration as text with a unit ("850ms"), which the sidecar refuses',
  PipemeterSeriesOverflow: "soundcloud reports each item's source as the artist's own host, and the demo's sidecar caps families at 500 series",
} as const;

/**
 * Without a scenario the fleet must page no one: one job in this many fails, per pipeline, evenly spaced (0.25 %, a
 * quarter of the 99 % job-success SLO's error budget), so neither the long nor the short window of any burn-rate
 * alert sees a cluster of failures, and the first failure comes only after hundreds of jobs. Scenarios that make
 * a failure alert fire draw their own failures at random.
 */
export const QUIET_FAILURE_EVERY = 400;

/**
 * The alerts the plain demo (no scenario) makes go pending and fire with the shipped settings, by design; every other
 * alert stays quiet (test/demo/demo.test.ts checks the fleet against the thresholds, the e2e test against Prometheus).
 * docs/operations.md lists them.
 */
export const plainDemoAlerts: readonly { alertname: string; labels: Readonly<Record<string, string>>; fires: boolean; when: string; why: string }[] = [
  {
    alertname: 'TargetAbsent',
    labels: { job: 'pipemeter' },
    fires: false,
    when: 'pending for a moment when Prometheus starts; it never fires',
    why: 'Prometheus may evaluate the rules before its first scrape of the sidecar; the first scrape clears it, long before its 10 minutes',
  },
  {
    alertname: 'TargetDown',
    labels: { job: 'node' },
    fires: true,
    when: 'pending at once, firing after 5 minutes',
    why: 'the shipped prometheus.yml scrapes a node_exporter on localhost:9100; none runs beside the demo unless you start one',
  },
  {
    alertname: 'ScraperItemRateDrop',
    labels: { scraper: 'livetracklist' },
    fires: true,
    when: 'pending after about an hour, firing 30 minutes later',
    why: "livetracklist's silent failure: it stops creating items after one simulated hour, and its 1 h item rate falls to 0",
  },
  {
    alertname: 'ScraperNoItemsCreated',
    labels: { scraper: 'livetracklist' },
    fires: true,
    when: 'pending after about six hours, firing 5 minutes later',
    why: 'the same silent failure, once the 6 h window holds no item',
  },
];

/** The demo sidecar's series cap per family in the PipemeterSeriesOverflow scenario: reached in a minute, not in hours. */
export const OVERFLOW_SCENARIO_MAX_SERIES = 500;
export type Scenario = keyof typeof scenarios;

/** What the fleet sends: events for POST /v1/events, or a Firecrawl webhook body. */
export type Outgoing = { kind: 'events'; events: Record<string, unknown>[] } | { kind: 'firecrawl'; pipeline: string; body: Record<string, unknown> };

interface ScraperModel {
  name: string;
  domain: string;
  itemTypes: readonly string[];
  /** Mean items of each type per run. */
  itemsPerRun: number;
  schemaErrorRate: number;
  failureRate: number;
  /** Simulated seconds between runs. */
  every: number;
  next: number;
  /** A run may fail only after a first success (unless it always fails): a scraper that has only failed is ScraperNoRecentSuccess. */
  succeeded: boolean;
  /** Schema errors owed (items created x schemaErrorRate, not yet sent): errors come evenly spaced, not in clusters. */
  errorDebt: number;
}

/** A planned job: its real emission times (ms) and the `at` values (ms) its events carry. */
interface PlannedEvent {
  realAt: number;
  out: Outgoing;
}

export const videoStages = ['downloading', 'metadata', 'scene_detection', 'transcription', 'scene_processing', 'indexing', 'finalizing'] as const;
export const imageStages = ['download', 'validate', 'upload'] as const;
export const crawlStages = ['chunking', 'embedding', 'qdrant', 'bm25'] as const;

export interface FleetOptions {
  seed: number;
  /** Simulated seconds per real second. */
  speed: number;
  scenario?: Scenario;
  /** Real ms when the run starts. */
  start: number;
}

const sec = 1000;

/**
 * Fleet turns real time into events. Time is accelerated, but every `at` a job carries is in the
 * past of the moment it is sent: a job that takes D simulated seconds is sent so that it finishes
 * "now" and started D seconds earlier, so the sidecar derives the simulated durations from the
 * times it is given, and last-success timestamps are real.
 */
export class Fleet {
  private readonly rnd: Random;
  private readonly speed: number;
  readonly scenario: Scenario | undefined;
  private readonly start: number;
  private readonly scrapers: ScraperModel[];
  private readonly pending: PlannedEvent[] = [];
  private nextArrival = { video: 0, image: 0, crawl: 0 };
  private seq = 0;
  /** Workers busy until (real ms), per pipeline: queue wait comes from there. */
  private readonly busy = { video: [0, 0, 0], image: [0, 0, 0, 0] };
  /** Jobs planned per pipeline, for the evenly spaced failures of the quiet fleet. */
  private readonly planned = { video: 0, images: 0, crawl: 0 };

  constructor(opts: FleetOptions) {
    this.rnd = new Random(opts.seed);
    this.speed = opts.speed;
    this.scenario = opts.scenario;
    this.start = opts.start;
    // Schema errors and failed runs stay far under ScraperHighSchemaErrorRate's 5 % even over a short window.
    const s = (name: string, domain: string, itemTypes: string[], itemsPerRun: number, schemaErrorRate = 0.005, failureRate = 0.01): ScraperModel => ({
      name, domain, itemTypes, itemsPerRun, schemaErrorRate, failureRate, every: 300, next: 0, succeeded: false, errorDebt: 0,
    });
    this.scrapers = [
      s('beatport', 'www.beatport.com', ['track', 'artist', 'playlist'], 40),
      s('mixesdb', 'www.mixesdb.com', ['playlist', 'playlist_track', 'track'], 25, opts.scenario === 'ScraperHighSchemaErrorRate' ? 0.2 : 0.01),
      s('setlistfm', 'www.setlist.fm', ['playlist', 'artist'], 12),
      s('reddit', 'www.reddit.com', ['track'], 20, 0.01, opts.scenario === 'ScraperNoRecentSuccess' ? 1 : 0.01),
      s('soundcloud', 'soundcloud.com', ['track', 'artist'], 30),
      // The silent failure (see scraperRun): it never fails a run, so nothing but its item count gives it away.
      s('livetracklist', 'www.livetracklist.com', ['playlist', 'playlist_track'], 15, 0.005, 0),
    ];
  }

  /** Simulated seconds since the start at real time `now`. */
  private simSince(now: number): number {
    return ((now - this.start) / sec) * this.speed;
  }

  /** scraperNames lists the scrapers, for the sidecar's config (their series start at 0). */
  scraperConfig(): { name: string; itemTypes: readonly string[]; domain: string }[] {
    return this.scrapers.map((s) => ({ name: s.name, itemTypes: s.itemTypes, domain: s.domain }));
  }

  /** healthOf says what a scraper's health endpoint answers (the sidecar probes them). */
  healthOf(scraper: string): number {
    return this.scenario === 'ProbeFailing' && scraper === 'soundcloud' ? 500 : 200;
  }

  /** tick returns everything due by real time `now`. */
  tick(now: number): Outgoing[] {
    const sim = this.simSince(now);
    const events: Record<string, unknown>[] = [];
    for (const s of this.scrapers) {
      while (s.next <= sim) {
        this.scraperRun(s, now, events, s.next);
        s.next += s.every * this.rnd.lognormal(1, 1.1);
      }
    }
    this.arrivals(now, sim);
    const due: Outgoing[] = events.length > 0 ? [{ kind: 'events', events }] : [];
    this.pending.sort((a, b) => a.realAt - b.realAt);
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.realAt <= now) n++;
    for (const p of this.pending.splice(0, n)) {
      // Consecutive events go out as one NDJSON batch, as a real client buffers them; a webhook
      // stays a request of its own, and the order between the two is kept.
      const last = due[due.length - 1];
      if (p.out.kind === 'events' && last?.kind === 'events') last.events.push(...p.out.events);
      else due.push(p.out.kind === 'events' ? { kind: 'events', events: [...p.out.events] } : p.out);
    }
    return due;
  }

  private scraperRun(s: ScraperModel, now: number, out: Record<string, unknown>[], simAt: number): void {
    const day = 86_400;
    // The default schedule's silent failure: livetracklist stops producing after one simulated hour. Silent: its runs
    // go on succeeding, with no error of any kind, so only the item alerts (ScraperItemRateDrop, ScraperNoItemsCreated) see it.
    const silent = s.name === 'livetracklist' && (this.scenario === 'ScraperNoItemsCreated' || simAt > 3600);
    const failed = s.failureRate >= 1 || (s.succeeded && !silent && this.rnd.chance(s.failureRate));
    if (!failed) s.succeeded = true;
    const duration = this.rnd.lognormal(45, 1.6);
    if (!failed) {
      let rate = s.itemsPerRun;
      if (silent) rate = 0;
      if (s.name === 'beatport' && this.scenario === 'ScraperItemRateDrop' && simAt > day) rate /= 5;
      for (const itemType of s.itemTypes) {
        const count = this.rnd.poisson(rate);
        if (count === 0) continue;
        s.errorDebt += count * s.schemaErrorRate;
        const errors = Math.floor(s.errorDebt);
        s.errorDebt -= errors;
        if (this.scenario === 'PipemeterSeriesOverflow' && s.name === 'soundcloud') {
          // One host per artist: the source label (a URL reduced to its host) grows without bound.
          for (let i = 0; i < count; i++) out.push({ type: 'item_created', scraper: s.name, item_type: itemType, source: `https://${this.rnd.hex(8)}.${s.domain}/${itemType}`, count: 1 });
        } else {
          out.push({ type: 'item_created', scraper: s.name, item_type: itemType, source: `https://${s.domain}/${itemType}/${this.rnd.hex(8)}`, count });
        }
        if (errors > 0) out.push({ type: 'schema_error', scraper: s.name, item_type: itemType, error_type: this.rnd.pick(['validation', 'validation', 'missing_field', 'general_exception']), count: errors });
        out.push({ type: 'metric', name: 'scraper_extraction_method_total', labels: { scraper: s.name, method: this.rnd.chance(0.8) ? 'json_ld' : 'html', success: 'true' }, value: count });
      }
    } else {
      out.push({ type: 'schema_error', scraper: s.name, item_type: s.itemTypes[0], error_type: 'http_error', count: 1 });
    }
    out.push({ type: 'scraper_run', scraper: s.name, outcome: failed ? 'failure' : 'success', duration_seconds: round(duration), at: now / sec });
  }

  private arrivals(now: number, sim: number): void {
    const sc = this.scenario;
    const mean = { video: sc === 'PipelineQueueBacklog' ? 20 : 120, image: 15, crawl: 300 };
    for (const p of ['video', 'image', 'crawl'] as const) {
      while (this.nextArrival[p] <= sim) {
        const arrivalReal = this.start + (this.nextArrival[p] / this.speed) * sec;
        if (p === 'video') this.planVideo(Math.max(arrivalReal, now - sec));
        else if (p === 'image') this.planImage(Math.max(arrivalReal, now - sec));
        else this.planCrawl(Math.max(arrivalReal, now - sec));
        this.nextArrival[p] += -Math.log(1 - this.rnd.next()) * mean[p];
      }
    }
  }

  /** real converts simulated seconds after `from` (real ms) to real ms. */
  private real(from: number, simSeconds: number): number {
    return from + (simSeconds / this.speed) * sec;
  }

  /** takeWorker books the earliest free worker from real time `arrival`; returns when it starts. */
  private takeWorker(pool: number[], arrival: number, busySimSeconds: number): number {
    let i = 0;
    for (let k = 1; k < pool.length; k++) if (pool[k]! < pool[i]!) i = k;
    const start = Math.max(arrival, pool[i]!);
    pool[i] = this.real(start, busySimSeconds);
    return start;
  }

  /** quietFailure says whether the quiet fleet's next job of a pipeline fails: one in QUIET_FAILURE_EVERY, evenly spaced. */
  private quietFailure(pipeline: keyof Fleet['planned']): boolean {
    return ++this.planned[pipeline] % QUIET_FAILURE_EVERY === 0;
  }

  /** failingStage picks the stage a failing job fails at, by weight (transcription fails more than finalizing). */
  private failingStage(weights: Readonly<Record<string, number>>): string {
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    let x = this.rnd.next() * total;
    for (const [stage, w] of Object.entries(weights)) if ((x -= w) < 0) return stage;
    return Object.keys(weights)[0]!;
  }

  private planVideo(arrival: number): void {
    const sc = this.scenario;
    const id = `video-${++this.seq}-${this.rnd.hex(6)}`;
    const media = this.rnd.lognormal(300, 2);
    const rtf = sc === 'PipelineHighRealtimeFactor' ? 3 : 0.35;
    const share: Record<(typeof videoStages)[number], number> = {
      downloading: 0.1, metadata: 0.02, scene_detection: 0.15, transcription: 0.45, scene_processing: 0.2, indexing: 0.06, finalizing: 0.02,
    };
    const stages: { stage: string; seconds: number; ok: boolean }[] = [];
    let failedStage: string | undefined;
    const failAt = this.quietFailure('video')
      ? this.failingStage({ downloading: 2, metadata: 1, scene_detection: 1, transcription: 6, scene_processing: 1, indexing: 1, finalizing: 1 })
      : undefined;
    for (const stage of videoStages) {
      let seconds = media * rtf * share[stage] * this.rnd.lognormal(1, 1.3);
      if (stage === 'transcription' && sc === 'PipelineStageLatencyHigh') seconds *= 10;
      const ok = stage !== failAt;
      stages.push({ stage, seconds, ok });
      if (!ok) {
        failedStage = stage;
        break;
      }
    }
    this.planJob('video', id, arrival, this.busy.video, stages, failedStage, media);
  }

  private planImage(arrival: number): void {
    const sc = this.scenario;
    const id = `img-${++this.seq}-${this.rnd.hex(6)}`;
    const median = { download: 1.2, validate: 0.3, upload: 0.8 };
    const stages: { stage: string; seconds: number; ok: boolean }[] = [];
    let failedStage: string | undefined;
    const failAt = this.quietFailure('images') ? this.failingStage({ download: 1, validate: 2, upload: 1 }) : undefined;
    for (const stage of imageStages) {
      const ok = stage !== failAt && !(stage === 'validate' && sc === 'PipelineFailureRateHigh' && this.rnd.chance(0.33));
      stages.push({ stage, seconds: this.rnd.lognormal(median[stage], 1.8), ok });
      if (!ok) {
        failedStage = stage;
        break;
      }
    }
    this.planJob('images', id, arrival, this.busy.image, stages, failedStage, undefined, sc === 'PipelineJobsStuck');
  }

  /** planJob schedules queued, started, stage and finished events for one job of a worker pipeline. */
  private planJob(
    pipeline: string,
    id: string,
    arrival: number,
    pool: number[],
    stages: { stage: string; seconds: number; ok: boolean }[],
    failedStage: string | undefined,
    mediaSeconds: number | undefined,
    stuck = false,
  ): void {
    const total = stages.reduce((a, s) => a + s.seconds, 0);
    const startReal = this.takeWorker(pool, arrival, total);
    const finishReal = this.real(startReal, total);
    const wait = ((startReal - arrival) / sec) * this.speed;
    // The times the events carry: finish "now", started `total` before, queued `wait` before that.
    const startAt = finishReal - total * sec;
    const queuedAt = startAt - wait * sec;
    const initiatedAt = queuedAt - this.rnd.lognormal(0.5, 2) * sec;
    const ev = (realAt: number, events: Record<string, unknown>[]) => this.pending.push({ realAt, out: { kind: 'events', events } });
    ev(arrival, [{ type: 'job_queued', pipeline, job_id: id, at: queuedAt / sec, initiated_at: initiatedAt / sec }]);
    ev(startReal, [{ type: 'job_started', pipeline, job_id: id, at: startAt / sec }]);
    if (stuck) return;
    let t = startReal;
    for (const s of stages) {
      t = this.real(t, s.seconds);
      const badUnit = this.scenario === 'PipemeterIngestRejected' && pipeline === 'images' && s.stage === 'validate';
      const duration = badUnit ? `${Math.round(s.seconds * 1000)}ms` : round(s.seconds);
      ev(t, [{ type: 'stage', pipeline, job_id: id, stage: s.stage, duration_seconds: duration, outcome: s.ok ? 'success' : 'failure' }]);
    }
    const finished: Record<string, unknown> = { type: 'job_finished', pipeline, job_id: id, outcome: failedStage ? 'failed' : 'completed', at: finishReal / sec };
    if (failedStage) finished.failed_stage = failedStage;
    if (mediaSeconds !== undefined) finished.media_seconds = round(mediaSeconds);
    ev(finishReal, [finished]);
  }

  /** planCrawl schedules a crawl as Firecrawl would deliver it, plus the user's own per-page indexing stages. */
  private planCrawl(arrival: number): void {
    const sc = this.scenario;
    const id = `${this.rnd.hex(8)}-${this.rnd.hex(4)}-4${this.rnd.hex(3)}-a${this.rnd.hex(3)}-${this.rnd.hex(12)}`;
    const pages = this.rnd.int(5, 40);
    const failRate = sc === 'PipelineErrorBudgetFastBurn' ? 0.5 : sc === 'PipelineErrorBudgetSlowBurn' ? 0.1 : 0;
    const crawlFails = this.quietFailure('crawl') || this.rnd.chance(failRate);
    const metadata = { pipeline: 'crawl', initiated_at: new Date(arrival - this.rnd.lognormal(2, 2) * sec).toISOString() };
    const hook = (realAt: number, type: string, success: boolean, data: unknown[], error?: string) =>
      this.pending.push({
        realAt,
        out: { kind: 'firecrawl', pipeline: 'crawl', body: { success, type, id, webhookId: uuid(this.rnd), data, ...(error ? { error } : {}), metadata } },
      });
    hook(arrival, 'crawl.started', true, []);
    let t = arrival;
    const pagesDone = crawlFails ? this.rnd.int(0, pages) : pages;
    for (let i = 0; i < pagesDone; i++) {
      t = this.real(t, this.rnd.lognormal(4, 1.6));
      const url = `https://docs.example.com/guide/${i}`;
      const ok = !this.rnd.chance(0.05);
      if (ok) {
        hook(t, 'crawl.page', true, [{ markdown: `# Page ${i}`, metadata: { sourceURL: url, url, statusCode: 200, scrapeId: uuid(this.rnd) } }]);
        const stages = crawlStages.map((stage) => ({
          type: 'stage', pipeline: 'crawl', job_id: id, stage, outcome: 'success',
          duration_seconds: round(this.rnd.lognormal({ chunking: 0.02, embedding: 0.4, qdrant: 0.05, bm25: 0.01 }[stage], 1.8)),
        }));
        this.pending.push({ realAt: t + 1, out: { kind: 'events', events: stages } });
      } else {
        hook(t, 'crawl.page', false, [{ metadata: { sourceURL: url } }], 'Request timed out');
      }
    }
    t = this.real(t, 2);
    hook(t, crawlFails ? 'crawl.failed' : 'crawl.completed', !crawlFails, [], crawlFails ? 'Crawl failed: too many errors' : undefined);
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function uuid(r: Random): string {
  return `${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-8${r.hex(3)}-${r.hex(12)}`;
}
