import { describe, expect, it } from 'vitest';
import { familiesOf } from '../../src/catalog/index.js';
import { type RunningDemo, startDemo } from '../../src/demo/run.js';
import { Fleet, OVERFLOW_SCENARIO_MAX_SERIES, scenarios } from '../../src/demo/fleet.js';
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
      // Queue depth and in-progress are gauges of the moment: present, maybe 0.
      const mustMove = !['pipeline_queue_depth', 'pipeline_jobs_in_progress'].includes(f.name);
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
