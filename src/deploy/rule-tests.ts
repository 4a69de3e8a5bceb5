/**
 * promtool unit tests for the rules: hand-written cases (series in, alerts or samples out), rendered to
 * `deploy/prometheus/tests/*.yaml`. Expectations are written here by hand for the default settings,
 * never derived from the rule expressions; only the static annotations (summary, runbook_url) are
 * copied from the rule, since promtool compares every annotation.
 */
import { PipemeterError } from '../meter/errors.js';
import { alertDefs } from './alerts.js';
import type { AlertingRule } from './rules.js';
import type { Settings } from './settings.js';
import { toYaml } from './yaml.js';

export interface InputSeries {
  series: string;
  /** promtool's expanding notation: `0+10x60` is 61 samples from 0 by 10, `_x3` three missing samples. */
  values: string;
}

/** One alert case: the alerts expected at evalTime; none means the case proves the alert stays quiet. */
export interface AlertCase {
  name: string;
  alert: string;
  interval?: string;
  series: InputSeries[];
  evalTime: string;
  expect: { labels: Record<string, string>; description: string }[];
}

export interface RecordCase {
  name: string;
  interval?: string;
  series: InputSeries[];
  evalTime: string;
  expr: string;
  /** Labels as promtool writes them, `name{a="b"}`; values computed by hand from the bucket counts. */
  samples: { labels: string; value: number }[];
}

const sp = (name: string, extra = '') => `{job="pipemeter",instance="pipemeter:9464",${name}${extra}}`;

/** Scraper alerts: the 6 rule types the fleet had per scraper, once by label. */
export const scraperCases: AlertCase[] = [
  {
    name: 'no item in 6h fires, also for a scraper that runs but never created an item',
    alert: 'ScraperNoItemsCreated',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source=""')}`, values: '0x400' },
      { series: `scraper_runs_total${sp('scraper="spotify",outcome="success"')}`, values: '0+1x400' },
      { series: `scraper_runs_total${sp('scraper="beatport",outcome="success"')}`, values: '0+1x400' },
    ],
    evalTime: '6h10m',
    expect: [
      { labels: { scraper: 'spotify', severity: 'critical' }, description: 'Scraper spotify created no items in the last 6h.' },
      { labels: { scraper: 'beatport', severity: 'critical' }, description: 'Scraper beatport created no items in the last 6h.' },
    ],
  },
  {
    name: 'one item in 6h is enough',
    alert: 'ScraperNoItemsCreated',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source=""')}`, values: '0x300 1x100' },
      { series: `scraper_runs_total${sp('scraper="spotify",outcome="success"')}`, values: '0+1x400' },
    ],
    evalTime: '6h10m',
    expect: [],
  },
  {
    name: 'a scraper deployed 2h ago with no items yet stays quiet',
    alert: 'ScraperNoItemsCreated',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source=""')}`, values: '0x130' },
      { series: `scraper_runs_total${sp('scraper="spotify",outcome="success"')}`, values: '0+1x130' },
    ],
    evalTime: '2h10m',
    expect: [],
  },
  {
    name: '6 % schema errors over two item types fires',
    alert: 'ScraperHighSchemaErrorRate',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source="open.spotify.com"')}`, values: '0+60x120' },
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="artist",source="open.spotify.com"')}`, values: '0+40x120' },
      { series: `scraper_schema_errors_total${sp('scraper="spotify",item_type="track",error_type="validation"')}`, values: '0+6x120' },
    ],
    evalTime: '90m',
    expect: [
      {
        labels: { scraper: 'spotify', severity: 'warning' },
        description: 'Scraper spotify: schema errors are 6% of items created over the last 1h (threshold 5%).',
      },
    ],
  },
  {
    name: 'exactly 5 % schema errors stays quiet',
    alert: 'ScraperHighSchemaErrorRate',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source="open.spotify.com"')}`, values: '0+100x120' },
      { series: `scraper_schema_errors_total${sp('scraper="spotify",item_type="track",error_type="http_error"')}`, values: '0+5x120' },
    ],
    evalTime: '90m',
    expect: [],
  },
  {
    name: 'last success 2h10m+ ago fires; failures and no success ever fires',
    alert: 'ScraperNoRecentSuccess',
    series: [
      // spotify succeeded at t=600s and only failed since.
      { series: `scraper_last_success_timestamp_seconds${sp('scraper="spotify"')}`, values: '600x150' },
      { series: `scraper_runs_total${sp('scraper="spotify",outcome="success"')}`, values: '1x150' },
      { series: `scraper_runs_total${sp('scraper="spotify",outcome="failure"')}`, values: '0+1x150' },
      // beatport never succeeded, so it has no timestamp series at all.
      { series: `scraper_runs_total${sp('scraper="beatport",outcome="success"')}`, values: '0x150' },
      { series: `scraper_runs_total${sp('scraper="beatport",outcome="failure"')}`, values: '0+1x150' },
    ],
    evalTime: '150m',
    expect: [
      { labels: { scraper: 'spotify', severity: 'critical' }, description: 'Scraper spotify has not finished a successful run in the last 2h.' },
      { labels: { scraper: 'beatport', severity: 'critical' }, description: 'Scraper beatport has not finished a successful run in the last 2h.' },
    ],
  },
  {
    name: 'a success exactly 2h ago stays quiet; an idle scraper that never ran stays quiet',
    alert: 'ScraperNoRecentSuccess',
    series: [
      { series: `scraper_last_success_timestamp_seconds${sp('scraper="spotify"')}`, values: '1800x150' },
      { series: `scraper_runs_total${sp('scraper="spotify",outcome="success"')}`, values: '1x150' },
      { series: `scraper_runs_total${sp('scraper="beatport",outcome="success"')}`, values: '0x150' },
      { series: `scraper_runs_total${sp('scraper="beatport",outcome="failure"')}`, values: '0x150' },
    ],
    evalTime: '150m',
    expect: [],
  },
];

/**
 * The 7-day baseline case: its own file, sampled and evaluated every 10m, because promtool evaluates every
 * rule at every step and a week at 1m steps takes a minute.
 */
export const baselineCases: AlertCase[] = [
  {
    name: 'items/s falling to a sixth of the 7-day average fires',
    alert: 'ScraperItemRateDrop',
    interval: '10m',
    series: [
      // 2 items/s for 7 days, then 1/3 item/s for 2 hours.
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source=""')}`, values: '0+1200x1007 1208600+200x11' },
    ],
    evalTime: '169h50m',
    expect: [
      {
        labels: { scraper: 'spotify', severity: 'warning' },
        description: 'Scraper spotify creates 0.333 items/s over the last 1h, under 50% of its 7d average.',
      },
    ],
  },
  {
    name: 'items/s at half the earlier rate stays quiet (the 7-day average includes the last hours)',
    alert: 'ScraperItemRateDrop',
    interval: '10m',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source=""')}`, values: '0+1200x1007 1209000+600x11' },
    ],
    evalTime: '169h50m',
    expect: [],
  },
];

/** Target alerts: reachability, vanished jobs, health probes. */
export const targetCases: AlertCase[] = [
  {
    name: 'a target down for 6m fires',
    alert: 'TargetDown',
    series: [
      { series: 'up{job="pipemeter-workers",instance="worker-1:9464"}', values: '0x10' },
      { series: 'up{job="pipemeter-workers",instance="worker-2:9464"}', values: '1x10' },
    ],
    evalTime: '6m',
    expect: [
      {
        labels: { job: 'pipemeter-workers', instance: 'worker-1:9464', severity: 'critical' },
        description: 'worker-1:9464 of job pipemeter-workers has been unreachable for 5m.',
      },
    ],
  },
  {
    name: 'a target down for 3m stays quiet; a job pipemeter does not own stays quiet',
    alert: 'TargetDown',
    series: [
      { series: 'up{job="pipemeter-workers",instance="worker-1:9464"}', values: '1x5 0x3' },
      { series: 'up{job="someone-else",instance="x:80"}', values: '0x10' },
    ],
    evalTime: '9m',
    expect: [],
  },
  {
    name: 'the sidecar job vanishing fires',
    alert: 'TargetAbsent',
    series: [{ series: 'up{job="pipemeter-workers",instance="worker-1:9464"}', values: '1x20' }],
    evalTime: '15m',
    expect: [{ labels: { job: 'pipemeter', severity: 'critical' }, description: 'No target of job pipemeter has been scraped for 10m.' }],
  },
  {
    name: 'both jobs present stays quiet, even with a target down',
    alert: 'TargetAbsent',
    series: [
      { series: 'up{job="pipemeter-workers",instance="worker-1:9464"}', values: '1x20' },
      { series: 'up{job="pipemeter",instance="pipemeter:9464"}', values: '0x20' },
    ],
    evalTime: '15m',
    expect: [],
  },
  {
    name: 'a probe failing for 6m fires',
    alert: 'ProbeFailing',
    series: [{ series: `probe_success${sp('target="spotify"')}`, values: '0x10' }],
    evalTime: '6m',
    expect: [
      {
        labels: { job: 'pipemeter', instance: 'pipemeter:9464', target: 'spotify', severity: 'critical' },
        description: 'Health probe of spotify (instance pipemeter:9464) has failed for 5m.',
      },
    ],
  },
  {
    name: 'one failed probe among successes stays quiet',
    alert: 'ProbeFailing',
    series: [{ series: `probe_success${sp('target="spotify"')}`, values: '1 1 0 1 1 1 1 1 1 1' }],
    evalTime: '9m',
    expect: [],
  },
];

const stage = (le: string, values: string, labels = 'pipeline="video",stage="transcription",outcome="success"') => ({
  series: `pipeline_stage_duration_seconds_bucket${sp(labels, `,le="${le}"`)}`,
  values,
});
const wait = (le: string, values: string) => ({ series: `pipeline_queue_wait_seconds_bucket${sp('pipeline="video"', `,le="${le}"`)}`, values });
const rtf = (le: string, values: string) => ({ series: `pipeline_realtime_factor_bucket${sp('pipeline="video"', `,le="${le}"`)}`, values });
const finished = (pipeline: string, outcome: string, values: string) => ({
  series: `pipeline_jobs_finished_total${sp(`pipeline="${pipeline}",outcome="${outcome}"`)}`,
  values,
});

/** Pipeline alerts: latency, failures, queues, stuck jobs, real-time factor. */
export const pipelineCases: AlertCase[] = [
  {
    name: 'all transcriptions in (600s, 1800s] give p95 1740s and fire',
    alert: 'PipelineStageLatencyHigh',
    series: [stage('600', '0x40'), stage('1800', '0+10x40'), stage('+Inf', '0+10x40')],
    evalTime: '25m',
    expect: [
      {
        labels: { pipeline: 'video', stage: 'transcription', severity: 'warning' },
        description: 'p95 of stage transcription in pipeline video is 29m 0s (threshold 600s).',
      },
    ],
  },
  {
    name: 'all transcriptions in (300s, 600s] give p95 585s and stay quiet',
    alert: 'PipelineStageLatencyHigh',
    series: [stage('300', '0x40'), stage('600', '0+10x40'), stage('+Inf', '0+10x40')],
    evalTime: '25m',
    expect: [],
  },
  {
    name: '20 % of jobs failing at embedding fires',
    alert: 'PipelineFailureRateHigh',
    series: [
      finished('crawl', 'completed', '0+8x60'),
      finished('crawl', 'failed', '0+2x60'),
      { series: `pipeline_job_failures_total${sp('pipeline="crawl",stage="embedding"')}`, values: '0+2x60' },
    ],
    evalTime: '45m',
    expect: [
      {
        labels: { pipeline: 'crawl', stage: 'embedding', severity: 'warning' },
        description: '20% of jobs in pipeline crawl failed at stage embedding over the last 15m (threshold 10%).',
      },
    ],
  },
  {
    name: 'exactly 10 % failing stays quiet; cancelled jobs are not counted as failures',
    alert: 'PipelineFailureRateHigh',
    series: [
      finished('crawl', 'completed', '0+9x60'),
      finished('crawl', 'failed', '0+1x60'),
      finished('crawl', 'cancelled', '0+5x60'),
      { series: `pipeline_job_failures_total${sp('pipeline="crawl",stage="embedding"')}`, values: '0+1x60' },
    ],
    evalTime: '45m',
    expect: [],
  },
  {
    name: '1500 queued jobs fire on depth',
    alert: 'PipelineQueueBacklog',
    series: [{ series: `pipeline_queue_depth${sp('pipeline="video"')}`, values: '1500x30' }],
    evalTime: '20m',
    expect: [
      {
        labels: { pipeline: 'video', signal: 'depth', severity: 'warning' },
        description: 'Pipeline video queue backlog: depth is 1500 (thresholds: wait p95 1800s, depth 1000).',
      },
    ],
  },
  {
    name: 'waits in (1800s, 3600s] give p95 3510s and fire on wait',
    alert: 'PipelineQueueBacklog',
    series: [
      { series: `pipeline_queue_depth${sp('pipeline="video"')}`, values: '10x30' },
      wait('1800', '0x30'),
      wait('3600', '0+5x30'),
      wait('+Inf', '0+5x30'),
    ],
    evalTime: '25m',
    expect: [
      {
        labels: { pipeline: 'video', signal: 'wait_p95_seconds', severity: 'warning' },
        description: 'Pipeline video queue backlog: wait_p95_seconds is 3510 (thresholds: wait p95 1800s, depth 1000).',
      },
    ],
  },
  {
    name: 'exactly 1000 queued and short waits stay quiet',
    alert: 'PipelineQueueBacklog',
    series: [
      { series: `pipeline_queue_depth${sp('pipeline="video"')}`, values: '1000x30' },
      wait('60', '0x30'),
      wait('300', '0+5x30'),
      wait('+Inf', '0+5x30'),
    ],
    evalTime: '25m',
    expect: [],
  },
  {
    name: '3 jobs in progress and none finished in 1h fires',
    alert: 'PipelineJobsStuck',
    series: [
      { series: `pipeline_jobs_in_progress${sp('pipeline="video"')}`, values: '3x100' },
      finished('video', 'completed', '5x100'),
    ],
    evalTime: '80m',
    expect: [
      {
        labels: { pipeline: 'video', severity: 'warning' },
        description: 'Pipeline video has 3 jobs in progress and finished none in the last 1h.',
      },
    ],
  },
  {
    name: 'one job finished 30m ago stays quiet; an idle pipeline stays quiet',
    alert: 'PipelineJobsStuck',
    series: [
      { series: `pipeline_jobs_in_progress${sp('pipeline="video"')}`, values: '3x100' },
      finished('video', 'completed', '5x50 6x49'),
      { series: `pipeline_jobs_in_progress${sp('pipeline="crawl"')}`, values: '0x100' },
      finished('crawl', 'completed', '5x100'),
    ],
    evalTime: '80m',
    expect: [],
  },
  {
    name: 'real-time factors in (2, 3] give p95 2.95 and fire',
    alert: 'PipelineHighRealtimeFactor',
    series: [rtf('2', '0x120'), rtf('3', '0+1x120'), rtf('+Inf', '0+1x120')],
    evalTime: '100m',
    expect: [
      {
        labels: { pipeline: 'video', severity: 'warning' },
        description: 'p95 real-time factor of pipeline video is 2.95 over 1h (threshold 2).',
      },
    ],
  },
  {
    name: 'real-time factors in (1.5, 2] give p95 1.975 and stay quiet',
    alert: 'PipelineHighRealtimeFactor',
    series: [rtf('1.5', '0x120'), rtf('2', '0+1x120'), rtf('+Inf', '0+1x120')],
    evalTime: '100m',
    expect: [],
  },
];

/** SLO burn-rate alerts for a 99 % job-success target. */
export const sloCases: AlertCase[] = [
  {
    name: '20 % failed jobs for 70m burns fast (over 14.4 x 1 %) and pages',
    alert: 'PipelineErrorBudgetFastBurn',
    series: [finished('crawl', 'completed', '0+800x100'), finished('crawl', 'failed', '0+200x100')],
    evalTime: '70m',
    expect: [
      {
        labels: { pipeline: 'crawl', severity: 'critical' },
        description:
          "Pipeline crawl job error ratio is 20%, burning the 99% success SLO's budget fast (1h/5m at 14.4x, 6h/30m at 6x).",
      },
    ],
  },
  {
    name: '20 % failed for an hour, then none for 35m: the short windows reset the page',
    alert: 'PipelineErrorBudgetFastBurn',
    series: [finished('crawl', 'completed', '0+800x60 49000+1000x35'), finished('crawl', 'failed', '0+200x60 12000x35')],
    evalTime: '95m',
    expect: [],
  },
  {
    name: '5 % failed stays under the 6x page threshold',
    alert: 'PipelineErrorBudgetFastBurn',
    series: [finished('crawl', 'completed', '0+950x100'), finished('crawl', 'failed', '0+50x100')],
    evalTime: '70m',
    expect: [],
  },
  {
    name: '5 % failed (abandoned counts as failed) burns slowly (over 3 x 1 %) and opens a ticket',
    alert: 'PipelineErrorBudgetSlowBurn',
    series: [
      finished('crawl', 'completed', '0+950x150'),
      finished('crawl', 'failed', '0+30x150'),
      finished('crawl', 'abandoned', '0+20x150'),
    ],
    evalTime: '140m',
    expect: [
      {
        labels: { pipeline: 'crawl', severity: 'warning' },
        description:
          "Pipeline crawl job error ratio is 5%, spending the 99% success SLO's budget faster than it refills (1d/2h at 3x, 3d/6h at 1x).",
      },
    ],
  },
  {
    name: '0.5 % failed, within budget, stays quiet; cancelled jobs spend nothing',
    alert: 'PipelineErrorBudgetSlowBurn',
    series: [
      finished('crawl', 'completed', '0+995x150'),
      finished('crawl', 'failed', '0+5x150'),
      finished('crawl', 'cancelled', '0+500x150'),
    ],
    evalTime: '140m',
    expect: [],
  },
];

const selfSeries = (name: string, labels: string, values: string) => ({
  series: `${name}{job="pipemeter",instance="pipemeter:9464"${labels === '' ? '' : ',' + labels}}`,
  values,
});
const events = (source: string, outcome: string, values: string) =>
  selfSeries('pipemeter_ingest_events_total', `source="${source}",outcome="${outcome}"`, values);

/** pipemeter's own alerts: data folded past a series cap, events refused, datagrams the kernel dropped. */
export const selfCases: AlertCase[] = [
  {
    name: 'a family folding recordings for 5m fires; one that folded once, long ago, stays quiet',
    alert: 'PipemeterSeriesOverflow',
    series: [
      // One more folded recording a minute from minute 12: the window [10m, 25m] holds 0 to 14.
      selfSeries('pipemeter_series_overflow_total', 'metric="scraper_items_created_total"', '0x10 0+1x20'),
      selfSeries('pipemeter_series_overflow_total', 'metric="pipeline_items_total"', '3x30'),
    ],
    evalTime: '25m',
    expect: [
      {
        labels: { job: 'pipemeter', instance: 'pipemeter:9464', metric: 'scraper_items_created_total', severity: 'warning' },
        description: 'scraper_items_created_total on pipemeter:9464 (job pipemeter) is at its series cap: 14 recordings folded into its __overflow__ series over the last 15m.',
      },
    ],
  },
  {
    name: 'an overflow that stopped 20m ago stays quiet',
    alert: 'PipemeterSeriesOverflow',
    series: [selfSeries('pipemeter_series_overflow_total', 'metric="scraper_items_created_total"', '0+1x10 10x30')],
    evalTime: '30m',
    expect: [],
  },
  {
    name: '10 % of /v1/events events refused for 15m fires; statsd with none refused stays quiet',
    alert: 'PipemeterIngestRejected',
    series: [
      events('events', 'accepted', '0+90x30'),
      events('events', 'rejected', '0+10x30'),
      events('statsd', 'accepted', '0+100x30'),
      events('statsd', 'rejected', '0x30'),
    ],
    evalTime: '20m',
    expect: [
      {
        labels: { job: 'pipemeter', instance: 'pipemeter:9464', source: 'events', severity: 'warning' },
        description: 'pipemeter:9464 refused 10% of the events it received (source events) over the last 15m (threshold 1%).',
      },
    ],
  },
  {
    name: '0.5 % refused stays quiet, and a sidecar that receives nothing stays quiet',
    alert: 'PipemeterIngestRejected',
    series: [
      events('events', 'accepted', '0+199x30'),
      events('events', 'rejected', '0+1x30'),
      events('firecrawl', 'accepted', '0x30'),
      events('firecrawl', 'rejected', '0x30'),
    ],
    evalTime: '20m',
    expect: [],
  },
  {
    name: 'a burst of dropped datagrams fires after 1m',
    alert: 'PipemeterStatsdDatagramsDropped',
    // 1400 dropped at minute 21; the window [10m, 25m] starts and ends on samples, so nothing is extrapolated.
    series: [selfSeries('pipemeter_statsd_datagrams_dropped_total', '', '0x20 1400x20')],
    evalTime: '25m',
    expect: [
      {
        labels: { job: 'pipemeter', instance: 'pipemeter:9464', severity: 'warning' },
        description: 'pipemeter:9464 (job pipemeter) lost 1.4k StatsD datagrams to a full socket receive buffer over the last 15m.',
      },
    ],
  },
  {
    name: 'no drops in the window stays quiet, even with drops an hour ago',
    alert: 'PipemeterStatsdDatagramsDropped',
    series: [selfSeries('pipemeter_statsd_datagrams_dropped_total', '', '0x10 40x80')],
    evalTime: '80m',
    expect: [],
  },
];

/** Recording rules: quantiles from known bucket counts, throughput per day, guarded ratios. */
export const recordCases: RecordCase[] = [
  {
    name: 'stage quantiles from buckets: all observations in (1s, 2.5s]',
    series: [
      stage('1', '0x20', 'pipeline="crawl",stage="embedding",outcome="success"'),
      stage('2.5', '0+10x20', 'pipeline="crawl",stage="embedding",outcome="success"'),
      stage('+Inf', '0+10x20', 'pipeline="crawl",stage="embedding",outcome="success"'),
      stage('1', '0x20', 'pipeline="crawl",stage="embedding",outcome="failure"'),
      stage('2.5', '0x20', 'pipeline="crawl",stage="embedding",outcome="failure"'),
      stage('+Inf', '0x20', 'pipeline="crawl",stage="embedding",outcome="failure"'),
    ],
    evalTime: '15m',
    expr: '{__name__=~"pipeline:pipeline_stage_duration_seconds:p(50|95|99)_5m"}',
    samples: [
      { labels: 'pipeline:pipeline_stage_duration_seconds:p50_5m{pipeline="crawl",stage="embedding"}', value: 1.75 },
      { labels: 'pipeline:pipeline_stage_duration_seconds:p95_5m{pipeline="crawl",stage="embedding"}', value: 2.425 },
      { labels: 'pipeline:pipeline_stage_duration_seconds:p99_5m{pipeline="crawl",stage="embedding"}', value: 2.485 },
    ],
  },
  {
    name: 'items per second and per day, summed over item types and sources',
    series: [
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="track",source="a"')}`, values: '0+7x2000' },
      { series: `scraper_items_created_total${sp('scraper="spotify",item_type="artist",source="b"')}`, values: '0+5x2000' },
    ],
    evalTime: '1500m',
    expr: '{__name__=~"scraper:scraper_items_created:(rate5m|increase1d)"}',
    samples: [
      { labels: 'scraper:scraper_items_created:rate5m{scraper="spotify"}', value: 0.2 },
      { labels: 'scraper:scraper_items_created:increase1d{scraper="spotify"}', value: 17280 },
    ],
  },
  {
    name: 'job error ratio is 0, not NaN, with no jobs; cancelled is not counted',
    series: [
      finished('idle', 'completed', '0x20'),
      finished('idle', 'failed', '0x20'),
      finished('crawl', 'completed', '0+3x20'),
      finished('crawl', 'failed', '0+1x20'),
      finished('crawl', 'cancelled', '0+4x20'),
    ],
    evalTime: '15m',
    expr: 'pipeline:pipeline_jobs_finished:error_ratio_rate5m',
    samples: [
      { labels: 'pipeline:pipeline_jobs_finished:error_ratio_rate5m{pipeline="idle"}', value: 0 },
      { labels: 'pipeline:pipeline_jobs_finished:error_ratio_rate5m{pipeline="crawl"}', value: 0.25 },
    ],
  },
];

function alertTests(rules: Map<string, AlertingRule>, cases: readonly AlertCase[]) {
  return cases.map((c) => {
    const rule = rules.get(c.alert);
    if (rule === undefined) {
      throw new PipemeterError('E_RULE_TEST_ALERT', `rule test "${c.name}" names alert ${c.alert}, which no rule defines; fix the case or add the alert in src/deploy/alerts.ts`);
    }
    return {
      name: `${c.alert}: ${c.name}`,
      interval: c.interval ?? '1m',
      input_series: c.series,
      alert_rule_test: [
        {
          eval_time: c.evalTime,
          alertname: c.alert,
          exp_alerts: c.expect.map((e) => ({
            exp_labels: e.labels,
            exp_annotations: { summary: rule.annotations.summary, description: e.description, runbook_url: rule.annotations.runbook_url },
          })),
        },
      ],
    };
  });
}

function recordTests(cases: readonly RecordCase[]) {
  return cases.map((c) => ({
    name: c.name,
    interval: c.interval ?? '1m',
    input_series: c.series,
    promql_expr_test: [{ expr: c.expr, eval_time: c.evalTime, exp_samples: c.samples }],
  }));
}

/** Rule files as a test file under tests/ sees them. */
const RULE_FILES = ['../rules/recording.yml', '../rules/alerts.yml'];

/** ruleTestFiles renders the promtool test files, keyed by file name under deploy/prometheus/tests/. */
export function ruleTestFiles(s: Settings): { name: string; content: string }[] {
  const rules = new Map(alertDefs(s).map((d) => [d.rule.alert, d.rule]));
  const file = (tests: unknown[], evaluationInterval: string = s.evaluationInterval) =>
    toYaml({ rule_files: RULE_FILES, evaluation_interval: evaluationInterval, tests });
  return [
    { name: 'scraper-alerts.yaml', content: file(alertTests(rules, scraperCases)) },
    { name: 'scraper-baseline-alerts.yaml', content: file(alertTests(rules, baselineCases), '10m') },
    { name: 'target-alerts.yaml', content: file(alertTests(rules, targetCases)) },
    { name: 'pipeline-alerts.yaml', content: file(alertTests(rules, pipelineCases)) },
    { name: 'slo-alerts.yaml', content: file(alertTests(rules, sloCases)) },
    { name: 'self-alerts.yaml', content: file(alertTests(rules, selfCases)) },
    // 5m steps: the per-day case needs a day of data, and the recorded values only need aligned steps.
    { name: 'recording-rules.yaml', content: file(recordTests(recordCases), '5m') },
  ];
}
