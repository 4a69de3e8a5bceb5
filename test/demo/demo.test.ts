import { describe, expect, it } from 'vitest';
import { familiesOf } from '../../src/catalog/index.js';
import { type RunningDemo, startDemo } from '../../src/demo/run.js';
import { readFileSync } from 'node:fs';
import { Fleet, OVERFLOW_SCENARIO_MAX_SERIES, QUIET_FAILURE_EVERY, type Outgoing, plainDemoAlerts, scenarios } from '../../src/demo/fleet.js';
import { defaults } from '../../src/deploy/settings.js';
import { e2eSettings } from '../e2e/helpers/stack.js';
import { parseDuration } from '../../src/shared/units.js';
import { promtoolCheckMetrics, which } from '../helpers/tools.js';

const OM_ACCEPT = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';

/** runFor runs an in-process demo for `ms` of real time and returns what its /metrics said, then stops it. */
async function runFor(ms: number, opts: Partial<Parameters<typeof startDemo>[0]> = {}) {
  const logs: string[] = [];
  let demo: RunningDemo | undefined;
  try {
    demo = await startDemo({ speed: 3600, seed: 11, metricsPort: 0, ingestPort: 0, tickMs: 100, log: (l) => logs.push(l), ...opts });
    await new Promise((r) => setTimeout(r, ms));
    const text = await (await fetch(demo.metricsUrl!)).text();
    const om = await (await fetch(demo.metricsUrl!, { headers: { accept: OM_ACCEPT } })).text();
    return { text, om, stats: { ...demo.stats }, logs };
  } finally {
    await demo?.stop();
  }
}

/** value sums the samples of a family whose line matches every given label pair. */
function value(text: string, sample: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(sample + '{') && !line.startsWith(sample + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('pipemeter demo', () => {
  it('feeds every scraper, pipeline and probe family through the real ingest API and webhooks, with nothing refused', async () => {
    const { text, om, stats, logs } = await runFor(4_000);
    expect(logs).toEqual([]);
    expect(stats.rejected).toBe(0);
    expect(stats.failedRequests).toBe(0);
    expect(stats.accepted).toBeGreaterThan(100);
    expect(stats.webhooks).toBeGreaterThan(10);
    for (const f of [...familiesOf('scraper'), ...familiesOf('pipeline'), ...familiesOf('probe')]) {
      const sample = f.type === 'histogram' ? `${f.name}_count` : f.name;
      // Queue depth and in-progress are gauges of the moment: present, maybe 0. The plain fleet fails one job in
      // QUIET_FAILURE_EVERY, so a short run may have none yet (the PipelineFailureRateHigh scenario moves them).
      const mustMove = !['pipeline_queue_depth', 'pipeline_jobs_in_progress', 'pipeline_job_failures_total'].includes(f.name);
      expect(text, `${f.name} is exposed`).toMatch(new RegExp(`^${sample}[{ ]`, 'm'));
      if (mustMove) expect(value(text, sample), `${f.name} has data`).toBeGreaterThan(0);
    }
    expect(value(text, 'scraper_extraction_method_total')).toBeGreaterThan(0);
    // Crawl pages arrive as Firecrawl webhooks; their indexing stages as events under the crawl id.
    expect(value(text, 'pipeline_items_total', { pipeline: 'crawl', outcome: 'indexed' })).toBeGreaterThan(0);
    expect(value(text, 'pipeline_stage_duration_seconds_count', { pipeline: 'crawl', stage: 'embedding' })).toBeGreaterThan(0);
    expect(value(text, 'pipeline_realtime_factor_count', { pipeline: 'video' })).toBeGreaterThan(0);
    expect(value(text, 'probe_success')).toBe(6);
    // Job ids travel as exemplars, never as labels.
    expect(om).toMatch(/pipeline_stage_duration_seconds_bucket\{pipeline="video",[^}]*\} \d+ # \{job_id="video-/);
    expect(text).not.toMatch(/job_id=/);
    if (which('promtool') !== undefined || process.env.CI === 'true') {
      expect(promtoolCheckMetrics(text)).toEqual({ code: 0, findings: '' });
    }
  });

  it('makes the silent scraper stop creating items after one simulated hour, and the others go on', async () => {
    const { text } = await runFor(3_000, { speed: 7200 });
    const before = value(text, 'scraper_items_created_total', { scraper: 'livetracklist' });
    expect(value(text, 'scraper_runs_total', { scraper: 'livetracklist', outcome: 'success' })).toBeGreaterThan(12);
    // At 7200x three seconds are six hours: twelve-plus runs, of which only the first hour's created items.
    expect(before).toBeLessThan(value(text, 'scraper_items_created_total', { scraper: 'setlistfm' }));
  });

  it.each([
    ['ProbeFailing', (t: string) => expect(value(t, 'probe_success', { target: 'soundcloud' })).toBe(0)],
    ['ScraperNoRecentSuccess', (t: string) => {
      expect(value(t, 'scraper_runs_total', { scraper: 'reddit', outcome: 'success' })).toBe(0);
      expect(t).not.toMatch(/^scraper_last_success_timestamp_seconds\{scraper="reddit"\}/m);
    }],
    ['ScraperHighSchemaErrorRate', (t: string) => {
      const ratio = value(t, 'scraper_schema_errors_total', { scraper: 'mixesdb' }) / value(t, 'scraper_items_created_total', { scraper: 'mixesdb' });
      expect(ratio).toBeGreaterThan(0.1);
    }],
    ['PipelineFailureRateHigh', (t: string) => {
      expect(value(t, 'pipeline_job_failures_total', { pipeline: 'images', stage: 'validate' })).toBeGreaterThan(0);
      expect(value(t, 'pipeline_stage_duration_seconds_count', { pipeline: 'images', stage: 'validate', outcome: 'failure' })).toBeGreaterThan(0);
    }],
    ['PipelineJobsStuck', (t: string) => {
      expect(value(t, 'pipeline_jobs_in_progress', { pipeline: 'images' })).toBeGreaterThan(5);
      expect(value(t, 'pipeline_jobs_finished_total', { pipeline: 'images' })).toBe(0);
    }],
  ] as const)('scenario %s creates its alert condition', async (scenario, assert) => {
    const { text, stats } = await runFor(2_500, { scenario });
    expect(stats.rejected).toBe(0);
    assert(text);
  });

  it('scenario PipemeterIngestRejected gets over 1 % of the events refused, each counted by reason', async () => {
    const { text, stats, logs } = await runFor(2_500, { scenario: 'PipemeterIngestRejected' });
    expect(stats.rejected / (stats.accepted + stats.rejected)).toBeGreaterThan(0.01);
    // One scrape: every refused event is counted under its reason; the demo's own tally ran on a moment longer.
    const refused = value(text, 'pipemeter_ingest_events_total', { source: 'events', outcome: 'rejected' });
    expect(refused).toBeGreaterThan(0);
    expect(value(text, 'pipemeter_ingest_rejected_total', { source: 'events', reason: 'invalid_event' })).toBe(refused);
    expect(value(text, 'pipemeter_ingest_rejected_total', { source: 'events' })).toBe(refused);
    expect(stats.rejected).toBeGreaterThanOrEqual(refused);
    expect(logs).toContainEqual(expect.stringMatching(/^pipemeter demo: event refused: duration_seconds: expected a number of seconds >= 0, got "\d+ms"/));
  });

  it('scenario PipemeterSeriesOverflow folds soundcloud items past the series cap into the overflow series, totals kept', async () => {
    const { text, stats } = await runFor(2_500, { scenario: 'PipemeterSeriesOverflow' });
    expect(stats.rejected).toBe(0);
    const folded = value(text, 'pipemeter_series_overflow_total', { metric: 'scraper_items_created_total' });
    expect(folded).toBeGreaterThan(0);
    const lines = text.split('\n').filter((l) => l.startsWith('scraper_items_created_total{'));
    expect(lines.length).toBe(OVERFLOW_SCENARIO_MAX_SERIES + 1);
    expect(value(text, 'scraper_items_created_total', { scraper: '__overflow__' })).toBeGreaterThanOrEqual(folded);
  });

  it('names a scenario for every alert it documents, and a fleet with the same seed sends the same events', () => {
    expect(Object.keys(scenarios).length).toBeGreaterThanOrEqual(12);
    const run = () => {
      const f = new Fleet({ seed: 5, speed: 600, start: 0 });
      return JSON.stringify([f.tick(0), f.tick(10_000), f.tick(20_000)]).replace(/"webhookId":"[^"]+"/g, '');
    };
    expect(run()).toBe(run());
    expect(run().length).toBeGreaterThan(1000);
  });
});

/**
 * The plain fleet (no scenario) against the thresholds of the shipped alerts, computed over its events in real time
 * as Prometheus would see them: hours of it, at the default speed, for several seeds.
 */
describe('the plain demo pages no one', () => {
  const SPEED = 60;
  const e2eSchemaWindow = e2eSettings({ sidecars: [], prometheus: 0, alertmanager: 0 }, '').scraper.schemaErrors.window;
  const HOURS = 3;
  const STEP_MS = 10_000;

  /** events runs a fleet on a fake clock and returns what it sent, stamped with the real time it was sent (one run per seed). */
  const runs = new Map<string, { t: number; e: Record<string, unknown> }[]>();
  function events(seed: number, speed = SPEED, hours = HOURS): { t: number; e: Record<string, unknown> }[] {
    const key = `${seed}/${speed}/${hours}`;
    const cached = runs.get(key);
    if (cached !== undefined) return cached;
    const fleet = new Fleet({ seed, speed, start: 0 });
    const out: { t: number; e: Record<string, unknown> }[] = [];
    // Ticks as the demo sends them, fine enough for the window: every 10 s for hour-long windows, every second for the e2e's.
    const step = hours < 1 ? 1_000 : STEP_MS;
    for (let t = 0; t <= hours * 3_600_000; t += step) {
      for (const o of fleet.tick(t) as Outgoing[]) {
        if (o.kind === 'events') for (const e of o.events) out.push({ t, e });
        else if (o.body.type === 'crawl.completed' || o.body.type === 'crawl.failed') {
          out.push({ t, e: { type: 'job_finished', pipeline: o.pipeline, outcome: o.body.type === 'crawl.failed' ? 'failed' : 'completed' } });
        }
      }
    }
    runs.set(key, out);
    return out;
  }

  /** ratios are bad/total over every window of `windowMs` ending on a minute that holds an event (list sorted by t). */
  function ratios(list: readonly { t: number; bad: number; all: number }[], windowMs: number, hours = HOURS, stepMs = 60_000): number[] {
    // Prefix sums over the sorted list: a window is the difference of two cumulative totals.
    const cum = [{ bad: 0, all: 0 }];
    for (const x of list) cum.push({ bad: cum[cum.length - 1]!.bad + x.bad, all: cum[cum.length - 1]!.all + x.all });
    const upTo = (t: number) => {
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (list[mid]!.t <= t) lo = mid + 1;
        else hi = mid;
      }
      return cum[lo]!;
    };
    const out: number[] = [];
    for (let end = windowMs; end <= hours * 3_600_000; end += stepMs) {
      const [a, b] = [upTo(end - windowMs), upTo(end)];
      // As the rules divide: errors over no items at all is a huge ratio (clamp_min(…, 1e-9)), not a window to skip.
      if (b.all > a.all || b.bad > a.bad) out.push((b.bad - a.bad) / Math.max(b.all - a.all, 1e-9));
    }
    return out;
  }
  const ms = (d: string) => parseDuration(d)!;

  it.each([1, 2, 3])('seed %i: every pipeline stays under every burn-rate threshold of the job-success SLO, and still fails now and then', (seed) => {
    const all = events(seed);
    const budget = 1 - defaults.slo.target;
    for (const pipeline of ['video', 'images', 'crawl']) {
      const finished = all
        .filter(({ e }) => e.type === 'job_finished' && e.pipeline === pipeline)
        .map(({ t, e }) => ({ t, bad: defaults.slo.badOutcomes.includes(String(e.outcome)) ? 1 : 0, all: 1 }));
      const failed = finished.filter((x) => x.bad === 1).length;
      expect(failed, `${pipeline} fails sometimes`).toBeGreaterThan(0);
      expect(failed / finished.length, pipeline).toBeCloseTo(1 / QUIET_FAILURE_EVERY, 3);
      for (const w of [...defaults.slo.page.windows, ...defaults.slo.ticket.windows]) {
        // Both windows over the threshold is the alert: the short one alone is what a window shorter than the run can show.
        const threshold = w.factor * budget;
        const worst = Math.max(...ratios(finished, Math.min(ms(w.short), HOURS * 3_600_000)));
        expect(worst, `${pipeline} over ${w.short} at ${w.factor}x`).toBeLessThan(threshold);
      }
    }
  }, 60_000);

  it.each([
    [1, SPEED, ms(defaults.scraper.schemaErrors.window), HOURS],
    [2, SPEED, ms(defaults.scraper.schemaErrors.window), HOURS],
    [3, SPEED, ms(defaults.scraper.schemaErrors.window), HOURS],
    // The e2e test's fleets (seeds 7, 8 and the default 1 at its 200x) against its 20 s window: noise it must not see.
    [1, 200, ms(e2eSchemaWindow), 0.5],
    [7, 200, ms(e2eSchemaWindow), 0.5],
    [8, 200, ms(e2eSchemaWindow), 0.5],
  ])('seed %i at %ix: every scraper stays under ScraperHighSchemaErrorRate over %i ms windows, and none fails before its first success', (seed, speed, windowMs, hours) => {
    const all = events(seed, speed, hours);
    const { maxRatio } = defaults.scraper.schemaErrors;
    const scrapers = new Set(all.filter(({ e }) => e.type === 'scraper_run').map(({ e }) => String(e.scraper)));
    expect(scrapers.size).toBe(6);
    for (const scraper of scrapers) {
      const mine = all.filter(({ e }) => e.scraper === scraper);
      const list = mine
        .filter(({ e }) => e.type === 'schema_error' || e.type === 'item_created')
        .map(({ t, e }) => ({ t, bad: e.type === 'schema_error' ? Number(e.count) : 0, all: e.type === 'item_created' ? Number(e.count) : 0 }));
      expect(Math.max(...ratios(list, windowMs, hours, Math.min(60_000, windowMs / 4))), scraper).toBeLessThan(maxRatio);
      const runs = mine.filter(({ e }) => e.type === 'scraper_run').map(({ e }) => e.outcome);
      expect(runs[0], `${scraper}'s first run`).toBe('success');
    }
  }, 60_000);

  /** p95s are the 95th percentile of the values observed in every window of `windowMs` ending on a minute, by key (list sorted by t). */
  function p95s(list: readonly { t: number; key: string; v: number }[], windowMs: number): Map<string, number> {
    const byKey = new Map<string, { t: number; v: number }[]>();
    for (const x of list) {
      const l = byKey.get(x.key) ?? [];
      l.push(x);
      byKey.set(x.key, l);
    }
    const worst = new Map<string, number>();
    for (const [key, xs] of byKey) {
      let [from, to] = [0, 0];
      for (let end = windowMs; end <= HOURS * 3_600_000; end += 60_000) {
        while (to < xs.length && xs[to]!.t <= end) to++;
        while (from < to && xs[from]!.t <= end - windowMs) from++;
        if (from === to) continue;
        const vs = xs.slice(from, to).map((x) => x.v).sort((a, b) => a - b);
        worst.set(key, Math.max(worst.get(key) ?? 0, vs[Math.floor(0.95 * (vs.length - 1))]!));
      }
    }
    return worst;
  }

  it('seed 1: stage latency, queue wait and real-time factor p95s stay under half their alert thresholds', () => {
    const all = events(1);
    const at = new Map<string, number>();
    const stages: { t: number; key: string; v: number }[] = [];
    const waits: { t: number; key: string; v: number }[] = [];
    const rtf: { t: number; key: string; v: number }[] = [];
    for (const { t, e } of all) {
      const id = `${String(e.pipeline)}/${String(e.job_id)}`;
      if (e.type === 'job_queued') at.set(id, Number(e.at));
      else if (e.type === 'job_started') {
        waits.push({ t, key: String(e.pipeline), v: Number(e.at) - at.get(id)! });
        at.set(id, Number(e.at));
      } else if (e.type === 'stage') stages.push({ t, key: `${String(e.pipeline)}/${String(e.stage)}`, v: Number(e.duration_seconds) });
      else if (e.type === 'job_finished' && e.media_seconds !== undefined) rtf.push({ t, key: String(e.pipeline), v: (Number(e.at) - at.get(id)!) / Number(e.media_seconds) });
    }
    const { stageLatency, queueBacklog, realtimeFactor } = defaults.pipeline;
    const rate = ms(defaults.rateWindow);
    const over = (m: Map<string, number>, limit: number) => [...m].filter(([, v]) => !(v < limit / 2));
    expect(p95s(stages, rate).size).toBe(14);
    expect(over(p95s(stages, rate), stageLatency.maxSeconds)).toEqual([]);
    expect(over(p95s(waits, rate), queueBacklog.maxWaitSeconds)).toEqual([]);
    expect(over(p95s(rtf, ms(realtimeFactor.window)), realtimeFactor.max)).toEqual([]);
  }, 60_000);

  it.each(plainDemoAlerts.map((a) => [a.alertname, a]))('docs/operations.md names %s among the alerts the plain demo makes go pending', (_name, a) => {
    const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const labels = Object.entries(a.labels).map(([k, v]) => `${k}="${v}"`).join(',');
    expect(doc).toContain(`| ${a.alertname} | \`${labels}\` | ${a.when} | ${a.why}`);
  });
});

