/**
 * The rules hold no per-instance assumption: the same scraper and pipeline report from two instances (two replicas,
 * or two sidecars behind federation or remote_write), and the recording rules and alert conditions give the answer
 * for the whole service: sums of rates, ratios of sums, quantiles of summed buckets, one alert per scraper.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alertDefs } from '../../src/deploy/alerts.js';
import { recordingRuleGroups } from '../../src/deploy/rules.js';
import { defaults } from '../../src/deploy/settings.js';
import { toYaml } from '../../src/deploy/yaml.js';
import { describeWithTools, run } from '../helpers/tools.js';
import { repoRoot } from './helpers.js';

const INSTANCES = ['worker-a:9464', 'worker-b:9464'] as const;

/** at writes one series per instance: `values[i]` is instance i's promtool expanding notation. */
function at(name: string, labels: string, ...values: string[]) {
  return values.map((v, i) => ({ series: `${name}{job="pipemeter",instance="${INSTANCES[i]}",${labels}}`, values: v }));
}

/** expr of an alert, as the rules file has it; its condition is what must not depend on the instance. */
function alertExpr(name: string): string {
  const d = alertDefs(defaults).find((a) => a.rule.alert === name);
  if (d === undefined) throw new Error(`no alert ${name}`);
  return d.rule.expr;
}

/** fired wraps an alert condition so each firing series reads 1 with exactly its labels (an instance label would show). */
const fired = (name: string) => `(${alertExpr(name)}) * 0 + 1`;
/** near is 1 when a recorded value equals want up to float rounding. */
const near = (record: string, want: number) => `abs(${record} - ${want}) < bool 1e-9`;

const recordingCase = {
  name: 'recording rules over two instances: sums of rates, ratios of sums, quantiles of summed buckets',
  interval: '1m',
  input_series: [
    // 1/s on one instance, 2/s on the other.
    ...at('scraper_items_created_total', 'scraper="beatport",item_type="track",source="www.beatport.com"', '0+60x20', '0+120x20'),
    // 10 % errors on instance a, none on b: the service's ratio is 0.1/3, not the mean of the two ratios (5 %).
    ...at('scraper_schema_errors_total', 'scraper="beatport",error_type="http_error",item_type="track"', '0+6x20', '0x20'),
    // Instance a's stage runs finish within 1 s, b's within (1 s, 3 s]: the p95 of all runs is 1 + 2 * 0.9 = 2.8 s
    // (each instance alone gives 0.95 and 2.9; averaging those would give 1.925).
    ...at('pipeline_stage_duration_seconds_bucket', 'pipeline="crawl",stage="embedding",outcome="success",le="1"', '0+20x20', '0x20'),
    ...at('pipeline_stage_duration_seconds_bucket', 'pipeline="crawl",stage="embedding",outcome="success",le="3"', '0+20x20', '0+20x20'),
    ...at('pipeline_stage_duration_seconds_bucket', 'pipeline="crawl",stage="embedding",outcome="success",le="+Inf"', '0+20x20', '0+20x20'),
    // 9 completed jobs a minute on a, 1 failed on b: an error ratio of 10 % for the pipeline.
    ...at('pipeline_jobs_finished_total', 'pipeline="crawl",outcome="completed"', '0+9x20', '0x20'),
    ...at('pipeline_jobs_finished_total', 'pipeline="crawl",outcome="failed"', '0x20', '0+1x20'),
    // An HTTP service on two instances: 10 % server errors on a, none on b, as many requests each: 5 % for the service.
    ...at('http_server_request_duration_seconds_count', 'method="GET",route="/items/:id",status_code="200"', '0+54x20', '0+60x20'),
    ...at('http_server_request_duration_seconds_count', 'method="GET",route="/items/:id",status_code="500"', '0+6x20', '0x20'),
  ],
  promql_expr_test: [
    { expr: 'scraper:scraper_items_created:rate5m', eval_time: '10m', exp_samples: [{ labels: 'scraper:scraper_items_created:rate5m{scraper="beatport"}', value: 3 }] },
    { expr: near('scraper:scraper_schema_errors:per_item_ratio_rate5m', 0.1 / 3), eval_time: '10m', exp_samples: [{ labels: '{scraper="beatport"}', value: 1 }] },
    { expr: near('pipeline:pipeline_stage_duration_seconds:p95_5m', 2.8), eval_time: '10m', exp_samples: [{ labels: '{pipeline="crawl",stage="embedding"}', value: 1 }] },
    { expr: near('pipeline:pipeline_jobs_finished:error_ratio_rate5m', 0.1), eval_time: '10m', exp_samples: [{ labels: '{pipeline="crawl"}', value: 1 }] },
    { expr: near('http:http_server_requests:error_ratio_rate5m', 0.05), eval_time: '10m', exp_samples: [{ labels: '{job="pipemeter",route="/items/:id"}', value: 1 }] },
  ],
};

const alertCases = [
  {
    name: 'ScraperHighSchemaErrorRate: 10 % errors on one instance, 3.3 % for the scraper: quiet',
    interval: '1m',
    input_series: [
      ...at('scraper_items_created_total', 'scraper="beatport",item_type="track",source="x"', '0+60x80', '0+120x80'),
      ...at('scraper_schema_errors_total', 'scraper="beatport",error_type="http_error",item_type="track"', '0+6x80', '0x80'),
    ],
    promql_expr_test: [{ expr: fired('ScraperHighSchemaErrorRate'), eval_time: '70m', exp_samples: [] }],
  },
  {
    name: 'ScraperHighSchemaErrorRate: 10 % on both instances: one alert for the scraper, no instance label',
    interval: '1m',
    input_series: [
      ...at('scraper_items_created_total', 'scraper="beatport",item_type="track",source="x"', '0+60x80', '0+120x80'),
      ...at('scraper_schema_errors_total', 'scraper="beatport",error_type="http_error",item_type="track"', '0+6x80', '0+12x80'),
    ],
    promql_expr_test: [{ expr: fired('ScraperHighSchemaErrorRate'), eval_time: '70m', exp_samples: [{ labels: '{scraper="beatport"}', value: 1 }] }],
  },
  {
    name: 'ScraperNoItemsCreated: one instance idle while the other creates items: quiet',
    interval: '10m',
    input_series: [
      ...at('scraper_runs_total', 'scraper="beatport",outcome="success"', '0+1x80', '0+1x80'),
      ...at('scraper_items_created_total', 'scraper="beatport",item_type="track",source="x"', '0x80', '0+5x80'),
    ],
    promql_expr_test: [{ expr: fired('ScraperNoItemsCreated'), eval_time: '13h', exp_samples: [] }],
  },
  {
    name: 'ScraperNoItemsCreated: both instances idle for 6h: one alert for the scraper',
    interval: '10m',
    input_series: [
      ...at('scraper_runs_total', 'scraper="beatport",outcome="success"', '0+1x80', '0+1x80'),
      ...at('scraper_items_created_total', 'scraper="beatport",item_type="track",source="x"', '0x80', '0x80'),
    ],
    promql_expr_test: [{ expr: fired('ScraperNoItemsCreated'), eval_time: '13h', exp_samples: [{ labels: '{scraper="beatport"}', value: 1 }] }],
  },
  {
    name: 'PipelineJobsStuck: a job in progress on one instance while the other finishes jobs: quiet',
    interval: '1m',
    input_series: [
      ...at('pipeline_jobs_in_progress', 'pipeline="video"', '1x80', '0x80'),
      ...at('pipeline_jobs_finished_total', 'pipeline="video",outcome="completed"', '0x80', '0+1x80'),
    ],
    promql_expr_test: [{ expr: fired('PipelineJobsStuck'), eval_time: '70m', exp_samples: [] }],
  },
  {
    name: 'PipelineJobsStuck: jobs in progress on both, none finished anywhere: one alert for the pipeline',
    interval: '1m',
    input_series: [
      ...at('pipeline_jobs_in_progress', 'pipeline="video"', '1x80', '2x80'),
      ...at('pipeline_jobs_finished_total', 'pipeline="video",outcome="completed"', '0x80', '0x80'),
    ],
    promql_expr_test: [{ expr: fired('PipelineJobsStuck'), eval_time: '70m', exp_samples: [{ labels: '{pipeline="video"}', value: 1 }] }],
  },
  {
    name: 'HttpServerErrorRateHigh: 8 % server errors on one instance, none on the other, 4 % for the service: quiet',
    interval: '1m',
    input_series: [
      ...at('http_server_request_duration_seconds_count', 'method="GET",route="/",status_code="200"', '0+46x40', '0+50x40'),
      ...at('http_server_request_duration_seconds_count', 'method="GET",route="/",status_code="500"', '0+4x40', '0x40'),
    ],
    promql_expr_test: [{ expr: fired('HttpServerErrorRateHigh'), eval_time: '30m', exp_samples: [] }],
  },
  {
    name: 'HttpServerErrorRateHigh: 8 % on both instances: one alert for the service (its job), no instance label',
    interval: '1m',
    input_series: [
      ...at('http_server_request_duration_seconds_count', 'method="GET",route="/",status_code="200"', '0+46x40', '0+46x40'),
      ...at('http_server_request_duration_seconds_count', 'method="GET",route="/",status_code="500"', '0+4x40', '0+4x40'),
    ],
    promql_expr_test: [{ expr: fired('HttpServerErrorRateHigh'), eval_time: '30m', exp_samples: [{ labels: '{job="pipemeter"}', value: 1 }] }],
  },
];

/** Labels that name one target: an aggregation that keeps them is per instance. */
const perTarget = /\b(instance|pod|job)\b/;
/**
 * An HTTP server has no owner label (meter.http() records method, route and status): its service is its scrape job,
 * which every replica shares, so its rules keep `job`; two services may both have a route `/items/:id`.
 */
const perTargetOf = (name: string) => (/^(http:|Http)/.test(name) ? /\b(instance|pod)\b/ : perTarget);
/**
 * Alerts about targets themselves (down, absent, failing probe), and about one pipemeter process (its series
 * caps, the events it refused, its StatsD socket): per target by design.
 */
const targetAlerts = ['TargetDown', 'TargetAbsent', 'ProbeFailing', 'PipemeterSeriesOverflow', 'PipemeterIngestRejected', 'PipemeterStatsdDatagramsDropped'];

function groupings(expr: string): string[] {
  return [...expr.matchAll(/\b(by|on|without|ignoring)\s*\(([^)]*)\)/g)].map((m) => m[2]!);
}

describe('rules written for many instances', () => {
  const records = recordingRuleGroups(defaults).flatMap((g) => g.rules);

  it.each(records.map((r) => [r.record, r.expr]))('%s aggregates by bounded labels only', (record, expr) => {
    const by = groupings(expr);
    expect(by.length, 'every recording rule aggregates, so replicas sum instead of multiplying series').toBeGreaterThan(0);
    for (const g of by) expect(g).not.toMatch(perTargetOf(record));
  });

  it.each(alertDefs(defaults).filter((a) => !targetAlerts.includes(a.rule.alert)).map((a) => [a.rule.alert, a.rule.expr]))('%s groups by no per-target label', (alert, expr) => {
    for (const g of groupings(expr)) expect(g).not.toMatch(perTargetOf(alert));
  });
});

describeWithTools(['promtool'], 'recording rules and alert conditions over two instances (promtool test rules)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pipemeter-scaling-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const write = (tests: unknown[]) => {
    const file = join(tmp, `scaling-${Math.random().toString(36).slice(2)}.yaml`);
    const rules = ['recording.yml', 'alerts.yml'].map((f) => join(repoRoot, 'deploy/prometheus/rules', f));
    writeFileSync(file, toYaml({ rule_files: rules, evaluation_interval: defaults.evaluationInterval, tests }, 'Two-instance rule tests, written by test/deploy/scaling.test.ts.'));
    return file;
  };

  it('every case passes', () => {
    const r = run('promtool', ['test', 'rules', write([recordingCase, ...alertCases])]);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('and fails when the answer assumes one instance (the test can fail)', () => {
    const wrong = structuredClone(recordingCase);
    // One instance's rate instead of the sum.
    wrong.promql_expr_test[0]!.exp_samples[0]!.value = 1;
    const r = run('promtool', ['test', 'rules', write([wrong])]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/scraper:scraper_items_created:rate5m/);
  });
});
