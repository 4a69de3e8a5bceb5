/**
 * Grafana dashboards (fleet, scraper, pipeline) and the provisioning files that load them. Panels are built with
 * Grafana's typed builders (grafana-panels.ts); each dashboard also carries `__inputs`, so it imports through the UI.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  type FamilyDef,
  httpServerActiveRequests,
  httpServerRequestDuration,
  pipelineItems,
  pipelineJobDuration,
  pipelineJobE2eDuration,
  pipelineJobFailures,
  pipelineJobsFinished,
  pipelineJobsInProgress,
  pipelineQueueDepth,
  pipelineQueueWait,
  pipelineRealtimeFactor,
  pipelineStageDuration,
  ingestEvents,
  instrumentationErrors,
  scraperItemsCreated,
  scraperLastSuccess,
  scraperRunDuration,
  scraperRuns,
  scraperSchemaErrors,
  seriesOverflow,
  statsdDatagramsDropped,
} from '../catalog/index.js';
import { alertDefs, runbookAnchor } from './alerts.js';
import { dashboardUids } from './grafana-ids.js';
import { DATASOURCE_VARIABLE, DS, type PanelSpec, type Query, panels, redBelow, redFrom } from './grafana-panels.js';
import { histogramIncrease, histogramObservations, histogramQuantile, jobsMatcher, oneOf, quantileTag, ratio, selector, targetJobs } from './promql.js';
import { HTTP_REQUESTS, httpErrorRatio } from './rules.js';
import type { Settings } from './settings.js';
import { toJson, toYaml } from './yaml.js';

/** Grafana release whose dashboard schema the SDK builders (and so these dashboards) follow. */
export const GRAFANA_VERSION = '11.6.0';

/** The provisioned datasource. Dashboards reach it through their datasource variable, never by uid. */
export const DATASOURCE_UID = 'pipemeter-prometheus';
export const DATASOURCE_NAME = 'Prometheus';

/**
 * The import input (`__inputs`): Grafana's import page asks for a Prometheus datasource and replaces every
 * `${DS_PROMETHEUS}` string of the JSON with its uid. File provisioning ignores `__inputs` and replaces nothing.
 */
export const DATASOURCE_INPUT = 'DS_PROMETHEUS';

/** An entry of `__inputs`, as Grafana's "Export for sharing externally" writes it. */
export interface DashboardInput {
  name: string;
  label: string;
  description: string;
  type: 'datasource';
  pluginId: string;
  pluginName: string;
}

/** An entry of `__requires`: what the dashboard needs installed. */
export interface DashboardRequirement {
  type: 'grafana' | 'datasource' | 'panel';
  id: string;
  name: string;
  version: string;
}

/** Dashboard is what the generated JSON holds: Grafana's dashboard model plus the import blocks. */
export type Dashboard = { __inputs: DashboardInput[]; __requires: DashboardRequirement[] } & dashboard.Dashboard;

/** Grafana computes this per panel from the scrape interval; the time series use it, stats and the table read the alerts' windows. */
const RI = '$__rate_interval';
const TAG = 'pipemeter';

const PANEL_NAMES: Record<string, string> = { timeseries: 'Time series', heatmap: 'Heatmap', stat: 'Stat', table: 'Table' };

/** runbooks links a panel to the runbook entry of each alert it explains. */
function runbooks(s: Settings, ...alerts: string[]): { title: string; url: string }[] {
  return alerts.map((a) => ({ title: `Runbook: ${a}`, url: `${s.runbookBaseUrl}#${runbookAnchor(a)}` }));
}

function variables(s: Settings, owner: 'scraper' | 'pipeline' | 'both'): dashboard.VariableModel[] {
  const q = (name: string, query: string, allValue = '.*') =>
    new dashboard.QueryVariableBuilder(name)
      .label(name)
      .query(query)
      .datasource(DS)
      .hide(dashboard.VariableHide.DontHide)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .includeAll(true)
      .multi(true)
      .allValue(allValue)
      .current({ text: ['All'], value: ['$__all'] })
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .build();
  // Under file provisioning `${DS_PROMETHEUS}` stays as written and matches no datasource, so Grafana falls back to the
  // option whose name is the text (the provisioned datasource); an import replaces the value with the chosen uid.
  const datasource = new dashboard.DatasourceVariableBuilder(DATASOURCE_VARIABLE)
    .label('Data source')
    .type('prometheus')
    .current({ text: DATASOURCE_NAME, value: `\${${DATASOURCE_INPUT}}` })
    .hide(dashboard.VariableHide.DontHide)
    .build();
  // The jobs the shipped config scrapes, and All means exactly them: other jobs' `up` and their series of the same
  // names (blackbox_exporter's probe_success) stay off pipemeter's dashboards, as they stay out of its alerts.
  const jobs = jobsMatcher(targetJobs(s));
  const list = [datasource, q('job', `label_values(${selector('up', { job: jobs })}, job)`, jobs.slice(1))];
  if (owner !== 'pipeline') list.push(q('scraper', `label_values(${scraperRuns.name}{job=~"$job"}, scraper)`));
  // Runs and finished jobs start at zero for every scraper and pipeline, so the lists are complete from the start.
  if (owner !== 'scraper') list.push(q('pipeline', `label_values(${pipelineJobsFinished.name}{job=~"$job"}, pipeline)`));
  return list;
}

function dashboardOf(s: Settings, uid: string, title: string, description: string, owner: 'scraper' | 'pipeline' | 'both', specs: PanelSpec[]): Dashboard {
  const grafana = s.grafana.url.replace(/\/$/, '');
  const alertmanager = s.alertmanager.url.replace(/\/$/, '');
  const link = (t: string, url: string) => new dashboard.DashboardLinkBuilder(t).type(dashboard.DashboardLinkType.Link).url(url).targetBlank(true);
  const b = new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags([TAG])
    .readonly()
    .version(1)
    .timezone('browser')
    .time({ from: s.grafana.timeFrom, to: 'now' })
    .refresh(s.grafana.refresh)
    .links([
      new dashboard.DashboardLinkBuilder('pipemeter dashboards')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags([TAG])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
      link('Firing alerts', `${grafana}/alerting/list?search=state:firing`),
      link('Alertmanager', `${alertmanager}/#/alerts`),
      link('Runbooks', s.runbookBaseUrl),
    ]);
  for (const v of variables(s, owner)) b.withVariable({ build: () => v });
  const built = panels(specs);
  for (const p of built) {
    if ('row' in p) b.withRow({ build: () => p.row });
    else b.withPanel({ build: () => p.panel });
  }
  // A row is part of every dashboard model, not a panel plugin: Grafana's export lists no requirement for it.
  const used = [...new Set(built.flatMap((p) => ('panel' in p ? [p.panel.type] : [])))].sort();
  return {
    __inputs: [
      {
        name: DATASOURCE_INPUT,
        label: 'Prometheus',
        description: 'The Prometheus that scrapes pipemeter and evaluates its rules.',
        type: 'datasource',
        pluginId: 'prometheus',
        pluginName: 'Prometheus',
      },
    ],
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: GRAFANA_VERSION },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
      ...used.map((id): DashboardRequirement => ({ type: 'panel', id, name: PANEL_NAMES[id] ?? id, version: '' })),
    ],
    ...b.build(),
  };
}

const scraperSel = (name: string, extra: Record<string, string> = {}) => selector(name, { job: '~$job', scraper: '~$scraper', ...extra });
const pipelineSel = (name: string, extra: Record<string, string> = {}) => selector(name, { job: '~$job', pipeline: '~$pipeline', ...extra });
const rate = (sel: string, window: string = RI) => `rate(${sel}[${window}])`;

/**
 * carriesJobIds: the pipeline histograms get the job id as an OpenMetrics exemplar with each observation
 * (src/meter/pipeline.ts, and the sidecar through it); the scraper's have no id to carry.
 */
const carriesJobIds = (f: FamilyDef) => f.domain === 'pipeline';

/** quantile is one recorded quantile of a histogram as a panel query, with the job ids shown where it has them. */
function quantile(f: FamilyDef, q: number, by: string[], matchers: Record<string, string>, legend: string): Query {
  return { expr: histogramQuantile(f, q, RI, by, matchers), legend, exemplar: carriesJobIds(f) };
}

/** quantiles renders one query per recorded quantile of a histogram, by the given labels, filtered by the dashboard variables. */
function quantiles(s: Settings, f: FamilyDef, by: string[], matchers: Record<string, string>, legend: string): Query[] {
  return s.quantiles.map((q) => quantile(f, q, by, matchers, `${quantileTag(q)}${legend === '' ? '' : ` ${legend}`}`));
}

/** jobErrorRatio is failed and abandoned jobs over counted ones, per pipeline: the SLO's error ratio. */
function jobErrorRatio(s: Settings, window: string = RI): string {
  return ratio(
    `sum by (pipeline) (${rate(pipelineSel(pipelineJobsFinished.name, { outcome: oneOf(s.slo.badOutcomes) }), window)})`,
    `sum by (pipeline) (${rate(pipelineSel(pipelineJobsFinished.name, { outcome: oneOf(s.slo.countedOutcomes) }), window)})`,
  );
}

function pct(r: number): string {
  return `${Math.round(r * 10000) / 100}%`;
}

const scraperMatch = { job: '~$job', scraper: '~$scraper' };
const pipelineMatch = { job: '~$job', pipeline: '~$pipeline' };

/** lastSuccess is each scraper's last success, kept across a restart for as long as ScraperNoRecentSuccess keeps it. */
function lastSuccess(s: Settings): string {
  return `max by (scraper) (max_over_time(${scraperSel(scraperLastSuccess.name)}[${s.scraper.noRecentSuccess.memory}]))`;
}

/** The glance row: four numbers an operator reads before anything else. */
function glance(s: Settings): PanelSpec[] {
  const { noRecentSuccess } = s.scraper;
  const up = 'up{job=~"$job"}';
  return [
    {
      kind: 'stat',
      title: 'Targets up',
      description: 'Scrape targets that answered, and those that did not; any target down is TargetDown after its `for`.',
      unit: 'short',
      w: 6,
      h: 4,
      queries: [
        { expr: `sum(${up})`, legend: 'up', steps: redBelow(1) },
        { expr: `count(${up}) - sum(${up})`, legend: 'down', steps: redFrom(1) },
      ],
      links: runbooks(s, 'TargetDown', 'TargetAbsent'),
    },
    {
      kind: 'stat',
      title: 'Scrapers with no recent success',
      description:
        `Scrapers whose last success is older than ${noRecentSuccess.maxAgeSeconds}s, or that failed in the last ` +
        `${noRecentSuccess.window} and never succeeded: what ScraperNoRecentSuccess fires for, before its \`for\`.`,
      unit: 'short',
      w: 6,
      h: 4,
      queries: [
        {
          expr:
            `count((time() - ${lastSuccess(s)} > ${noRecentSuccess.maxAgeSeconds}) ` +
            `or (sum by (scraper) (increase(${scraperSel(scraperRuns.name, { outcome: 'failure' })}[${noRecentSuccess.window}])) > 0 ` +
            `unless on (scraper) ${lastSuccess(s)})) or vector(0)`,
          legend: 'scrapers',
        },
      ],
      steps: redFrom(1),
      links: runbooks(s, 'ScraperNoRecentSuccess'),
    },
    {
      kind: 'stat',
      title: 'Jobs in flight',
      description: 'Jobs started and not finished, summed over workers and pipelines.',
      unit: 'short',
      w: 6,
      h: 4,
      queries: [{ expr: `sum(${pipelineSel(pipelineJobsInProgress.name)})`, legend: 'in flight' }],
      links: runbooks(s, 'PipelineJobsStuck'),
    },
    {
      kind: 'stat',
      title: 'Error budget left',
      description:
        `Share of the job-success SLO's error budget (${pct(1 - s.slo.target)} of counted jobs) left over the last ${s.slo.window}, ` +
        `per pipeline; below 0 the ${pct(s.slo.target)} target is missed. Needs ${s.slo.window} of Prometheus retention.`,
      unit: 'percentunit',
      w: 6,
      h: 4,
      queries: [{ expr: `1 - (${jobErrorRatio(s, s.slo.window)}) / (1 - ${s.slo.target})`, legend: '{{pipeline}}' }],
      steps: redBelow(0),
      links: runbooks(s, 'PipelineErrorBudgetFastBurn', 'PipelineErrorBudgetSlowBurn'),
    },
  ];
}

/** The scrapers table: one row per scraper, each alert's signal in a column coloured at that alert's threshold. */
function scrapersTable(s: Settings): PanelSpec {
  const { noRecentSuccess, schemaErrors, itemRateDrop } = s.scraper;
  const items = (w: string) => `sum by (scraper) (${rate(scraperSel(scraperItemsCreated.name), w)})`;
  return {
    kind: 'table',
    title: 'Scrapers',
    description:
      `Each scraper's last success, item rate and schema errors, over the windows the alerts use; a red cell is past ` +
      `its alert's threshold (the alert fires once it stays there for its \`for\`).`,
    w: 24,
    h: 8,
    key: 'scraper',
    keyLink: { title: 'Scraper detail', url: `/d/${dashboardUids.scraper}?var-scraper=\${__value.raw}&\${__url_time_range}` },
    columns: [
      { name: 'Last success', expr: `time() - ${lastSuccess(s)}`, unit: 's', steps: redFrom(noRecentSuccess.maxAgeSeconds), empty: 'never' },
      { name: `Items/min (${itemRateDrop.window})`, expr: `${items(itemRateDrop.window)} * 60`, unit: 'short' },
      {
        name: `Items vs ${itemRateDrop.baseline} average`,
        expr: ratio(items(itemRateDrop.window), items(itemRateDrop.baseline)),
        unit: 'percentunit',
        steps: redBelow(itemRateDrop.minRatioOfBaseline),
      },
      {
        name: `Schema errors per item (${schemaErrors.window})`,
        expr: ratio(`sum by (scraper) (${rate(scraperSel(scraperSchemaErrors.name), schemaErrors.window)})`, items(schemaErrors.window)),
        unit: 'percentunit',
        steps: redFrom(schemaErrors.maxRatio),
      },
    ],
    links: runbooks(s, 'ScraperNoRecentSuccess', 'ScraperItemRateDrop', 'ScraperHighSchemaErrorRate'),
  };
}

/** The HTTP row: what meter.http() records for each service (job), rate, errors, duration (RED) and requests in flight. */
function httpRow(s: Settings): PanelSpec[] {
  const match = { job: '~$job' };
  const count = selector(HTTP_REQUESTS, match);
  return [
    { kind: 'row', title: 'HTTP services' },
    {
      kind: 'timeseries',
      title: 'HTTP requests per second by route',
      description: 'Requests answered, by service (job), method and matched route template; route "" is every request no route matched (404s, static files).',
      unit: 'reqps',
      queries: [{ expr: `sum by (job, method, route) (${rate(count)})`, legend: '{{job}} {{method}} {{route}}' }],
    },
    {
      kind: 'timeseries',
      title: 'HTTP answers per second by status code',
      description: 'Requests by the status code of their answer; status "" is a request the client dropped before an answer.',
      unit: 'reqps',
      queries: [{ expr: `sum by (job, status_code) (${rate(count)})`, legend: '{{job}} {{status_code}}' }],
    },
    {
      kind: 'timeseries',
      title: 'HTTP server error ratio (5xx) by route',
      description:
        `Requests answered with a 5xx status over all requests, per route; HttpServerErrorRateHigh fires when a service's ratio ` +
        `stays above ${pct(s.http.errorRate.maxRatio)} (at ${s.http.errorRate.minRequestsPerSecond} request/s or more).`,
      unit: 'percentunit',
      queries: [{ expr: httpErrorRatio(['job', 'route'], RI, match), legend: '{{job}} {{route}}' }],
      links: runbooks(s, 'HttpServerErrorRateHigh'),
    },
    {
      kind: 'timeseries',
      title: 'HTTP request duration p50 / p95 / p99 by route',
      description: 'From the request-duration histogram (OpenTelemetry\'s buckets, 5 ms to 10 s), all methods and status codes of a route.',
      unit: 's',
      queries: quantiles(s, httpServerRequestDuration, ['job', 'route'], match, '{{job}} {{route}}'),
    },
    {
      kind: 'timeseries',
      title: 'HTTP requests in flight',
      description: 'Requests received and not yet answered, summed over the instances of each service; a climb with flat throughput is requests held up.',
      unit: 'short',
      w: 24,
      h: 6,
      queries: [{ expr: `sum by (job) (${selector(httpServerActiveRequests.name, match)})`, legend: '{{job}}' }],
      links: runbooks(s, 'HttpServerErrorRateHigh'),
    },
  ];
}

function fleet(s: Settings): Dashboard {
  return dashboardOf(s, dashboardUids.fleet, 'pipemeter / Fleet overview', 'Every scraper and pipeline at a glance: targets, items, errors, jobs.', 'both', [
    ...glance(s),
    scrapersTable(s),
    {
      kind: 'timeseries',
      title: 'Targets up by job',
      description: 'Scrape targets that answered, per job; a drop is TargetDown, a job at zero is TargetAbsent.',
      unit: 'short',
      queries: [{ expr: 'sum by (job) (up{job=~"$job"})', legend: '{{job}}' }],
      links: runbooks(s, 'TargetDown', 'TargetAbsent'),
    },
    {
      kind: 'timeseries',
      title: 'Firing alerts',
      description: "pipemeter's alerts Prometheus is firing now, by name and severity.",
      unit: 'short',
      queries: [{ expr: `sum by (alertname, severity) (${selector('ALERTS', { alertstate: 'firing', alertname: oneOf(alertDefs(s).map((d) => d.rule.alert)) })})`, legend: '{{alertname}} ({{severity}})' }],
    },
    {
      kind: 'timeseries',
      title: 'Items created per second by scraper',
      description: 'All item types and sources summed.',
      unit: 'cps',
      queries: [{ expr: `sum by (scraper) (${rate(scraperSel(scraperItemsCreated.name))})`, legend: '{{scraper}}' }],
      links: runbooks(s, 'ScraperNoItemsCreated', 'ScraperItemRateDrop'),
    },
    {
      kind: 'timeseries',
      title: 'Schema errors per item by scraper',
      description: 'Schema errors divided by items created; the alert threshold is in the deploy settings.',
      unit: 'percentunit',
      queries: [
        {
          expr: ratio(`sum by (scraper) (${rate(scraperSel(scraperSchemaErrors.name))})`, `sum by (scraper) (${rate(scraperSel(scraperItemsCreated.name))})`),
          legend: '{{scraper}}',
        },
      ],
      links: runbooks(s, 'ScraperHighSchemaErrorRate'),
    },
    {
      kind: 'timeseries',
      title: 'Time since last successful run',
      description: 'Age of each scraper\'s last success; a scraper that never succeeded has no line.',
      unit: 's',
      queries: [{ expr: `time() - max by (scraper) (${scraperSel(scraperLastSuccess.name)})`, legend: '{{scraper}}' }],
      links: runbooks(s, 'ScraperNoRecentSuccess'),
    },
    {
      kind: 'timeseries',
      title: 'Jobs finished per second by pipeline and outcome',
      description: 'Completed, failed, cancelled and abandoned jobs.',
      unit: 'cps',
      queries: [{ expr: `sum by (pipeline, outcome) (${rate(pipelineSel(pipelineJobsFinished.name))})`, legend: '{{pipeline}} {{outcome}}' }],
    },
    {
      kind: 'timeseries',
      title: 'Job error ratio by pipeline',
      description: `Failed and abandoned jobs over counted jobs (cancelled excluded); the SLO target is ${s.slo.target}.`,
      unit: 'percentunit',
      queries: [
        {
          expr: jobErrorRatio(s),
          legend: '{{pipeline}}',
        },
      ],
      links: runbooks(s, 'PipelineErrorBudgetFastBurn', 'PipelineErrorBudgetSlowBurn'),
    },
    {
      kind: 'timeseries',
      title: 'Jobs in progress and queued by pipeline',
      description: 'In progress summed over workers; queue depth is the max, as workers sharing a queue report the same depth.',
      unit: 'short',
      queries: [
        { expr: `sum by (pipeline) (${pipelineSel(pipelineJobsInProgress.name)})`, legend: '{{pipeline}} in progress' },
        { expr: `max by (pipeline) (${pipelineSel(pipelineQueueDepth.name)})`, legend: '{{pipeline}} queued' },
      ],
      links: runbooks(s, 'PipelineJobsStuck', 'PipelineQueueBacklog'),
    },
    {
      kind: 'timeseries',
      title: 'Data pipemeter ignored, folded, refused or lost',
      description:
        'Recording calls pipemeter ignored, recordings folded into overflow series, events the sidecar refused and StatsD ' +
        'datagrams the kernel dropped; all should be zero.',
      unit: 'cps',
      w: 24,
      queries: [
        { expr: `sum by (job, reason) (rate(${instrumentationErrors.name}{job=~"$job"}[${RI}]))`, legend: '{{job}} {{reason}}' },
        { expr: `sum by (job, metric) (rate(${seriesOverflow.name}{job=~"$job"}[${RI}]))`, legend: '{{job}} overflow {{metric}}' },
        { expr: `sum by (job, source) (rate(${selector(ingestEvents.name, { job: '~$job', outcome: 'rejected' })}[${RI}]))`, legend: '{{job}} {{source}} refused' },
        { expr: `sum by (job) (rate(${statsdDatagramsDropped.name}{job=~"$job"}[${RI}]))`, legend: '{{job}} statsd dropped' },
      ],
      links: runbooks(s, 'PipemeterSeriesOverflow', 'PipemeterIngestRejected', 'PipemeterStatsdDatagramsDropped'),
    },
    ...httpRow(s),
  ]);
}

function scraper(s: Settings): Dashboard {
  return dashboardOf(s, dashboardUids.scraper, 'pipemeter / Scraper detail', 'One scraper (or a few): items by type and source, schema errors, runs and their duration.', 'scraper', [
    {
      kind: 'timeseries',
      title: 'Items created per second by item type',
      description: 'What the scraper builds, per item type.',
      unit: 'cps',
      queries: [{ expr: `sum by (scraper, item_type) (${rate(scraperSel(scraperItemsCreated.name))})`, legend: '{{scraper}} {{item_type}}' }],
      links: runbooks(s, 'ScraperItemRateDrop'),
    },
    {
      kind: 'timeseries',
      title: 'Items created per day',
      description: 'Throughput per day, by scraper.',
      unit: 'short',
      bars: true,
      queries: [{ expr: `sum by (scraper) (increase(${scraperSel(scraperItemsCreated.name)}[1d]))`, legend: '{{scraper}}', interval: '1d' }],
      links: runbooks(s, 'ScraperNoItemsCreated'),
    },
    {
      kind: 'timeseries',
      title: 'Items created per second by source',
      description: 'Source domains; an empty source is a series started at zero before any item.',
      unit: 'cps',
      queries: [{ expr: `sum by (scraper, source) (${rate(scraperSel(scraperItemsCreated.name))})`, legend: '{{scraper}} {{source}}' }],
    },
    {
      kind: 'timeseries',
      title: 'Schema errors per second by error type',
      description: 'Rejected or unbuildable items, by error and item type.',
      unit: 'cps',
      queries: [
        { expr: `sum by (scraper, error_type, item_type) (${rate(scraperSel(scraperSchemaErrors.name))})`, legend: '{{scraper}} {{error_type}} {{item_type}}' },
      ],
      links: runbooks(s, 'ScraperHighSchemaErrorRate'),
    },
    {
      kind: 'timeseries',
      title: 'Runs per second by outcome',
      description: 'Finished runs, successes and failures.',
      unit: 'cps',
      queries: [{ expr: `sum by (scraper, outcome) (${rate(scraperSel(scraperRuns.name))})`, legend: '{{scraper}} {{outcome}}' }],
      links: runbooks(s, 'ScraperNoRecentSuccess'),
    },
    {
      kind: 'timeseries',
      title: 'Run duration p50 / p95 / p99',
      description: 'Wall time of a run, all outcomes, from the run-duration histogram.',
      unit: 's',
      queries: quantiles(s, scraperRunDuration, ['scraper'], scraperMatch, '{{scraper}}'),
    },
    {
      kind: 'timeseries',
      title: 'Time since last successful run',
      description: 'A scraper that never succeeded has no line.',
      unit: 's',
      w: 24,
      queries: [{ expr: `time() - max by (scraper) (${scraperSel(scraperLastSuccess.name)})`, legend: '{{scraper}}' }],
      links: runbooks(s, 'ScraperNoRecentSuccess'),
    },
  ]);
}

function pipeline(s: Settings): Dashboard {
  const stageP = (q: number): PanelSpec => ({
    kind: 'timeseries',
    title: `Stage duration ${quantileTag(q)} by stage`,
    description: `${quantileTag(q)} of the time spent in each stage, all outcomes.`,
    unit: 's',
    queries: [quantile(pipelineStageDuration, q, ['pipeline', 'stage'], pipelineMatch, '{{pipeline}} {{stage}}')],
    links: runbooks(s, 'PipelineStageLatencyHigh'),
  });
  return dashboardOf(
    s,
    dashboardUids.pipeline,
    'pipemeter / Pipeline detail',
    'One pipeline (or a few): stage latency, queue wait against processing, real-time factor, failures, throughput.',
    'pipeline',
    [
      ...s.quantiles.map(stageP),
      {
        kind: 'timeseries',
        title: 'Queue wait vs processing time (p50, p95)',
        description: 'Time queued before start beside time from start to finish: which one grows tells you whether to add workers or speed them up.',
        unit: 's',
        queries: [0.5, 0.95].flatMap((q) => [
          quantile(pipelineQueueWait, q, ['pipeline'], pipelineMatch, `${quantileTag(q)} queue wait {{pipeline}}`),
          quantile(pipelineJobDuration, q, ['pipeline'], pipelineMatch, `${quantileTag(q)} processing {{pipeline}}`),
        ]),
        links: runbooks(s, 'PipelineQueueBacklog'),
      },
      {
        kind: 'timeseries',
        title: 'Job duration and end-to-end latency p50 / p95 / p99',
        description: 'Processing (start to finish) and end to end (request or queueing to finish).',
        unit: 's',
        queries: [
          ...quantiles(s, pipelineJobDuration, ['pipeline'], pipelineMatch, 'processing {{pipeline}}'),
          ...quantiles(s, pipelineJobE2eDuration, ['pipeline'], pipelineMatch, 'e2e {{pipeline}}'),
        ],
      },
      {
        kind: 'heatmap',
        title: 'Real-time factor distribution',
        description: 'Processing seconds per second of media, one observation per finished job.',
        unit: 'none',
        queries: [{ expr: histogramIncrease(pipelineRealtimeFactor, RI, pipelineMatch), legend: '{{le}}', exemplar: carriesJobIds(pipelineRealtimeFactor) }],
        links: runbooks(s, 'PipelineHighRealtimeFactor'),
      },
      {
        kind: 'timeseries',
        title: 'Failures by stage',
        description: 'Failed jobs attributed to the stage that failed.',
        unit: 'short',
        bars: true,
        queries: [{ expr: `sum by (pipeline, stage) (increase(${pipelineSel(pipelineJobFailures.name)}[${RI}]))`, legend: '{{pipeline}} {{stage}}' }],
        links: runbooks(s, 'PipelineFailureRateHigh'),
      },
      {
        kind: 'timeseries',
        title: 'Stage failure ratio',
        description: 'Stage executions that failed over all executions of the stage.',
        unit: 'percentunit',
        queries: [
          {
            expr: ratio(
              histogramObservations(pipelineStageDuration, 'count', 'rate', RI, ['pipeline', 'stage'], { ...pipelineMatch, outcome: 'failure' }),
              histogramObservations(pipelineStageDuration, 'count', 'rate', RI, ['pipeline', 'stage'], pipelineMatch),
            ),
            legend: '{{pipeline}} {{stage}}',
          },
        ],
        links: runbooks(s, 'PipelineFailureRateHigh'),
      },
      {
        kind: 'timeseries',
        title: 'Jobs finished per hour',
        description: 'Throughput per hour by outcome.',
        unit: 'short',
        bars: true,
        queries: [{ expr: `sum by (pipeline, outcome) (increase(${pipelineSel(pipelineJobsFinished.name)}[1h]))`, legend: '{{pipeline}} {{outcome}}', interval: '1h' }],
      },
      {
        kind: 'timeseries',
        title: 'Jobs finished per day',
        description: 'Throughput per day by outcome.',
        unit: 'short',
        bars: true,
        queries: [{ expr: `sum by (pipeline, outcome) (increase(${pipelineSel(pipelineJobsFinished.name)}[1d]))`, legend: '{{pipeline}} {{outcome}}', interval: '1d' }],
      },
      {
        kind: 'timeseries',
        title: 'In progress and queued',
        description: 'Jobs started and not finished (summed over workers); queue depth (max over reporters of one queue).',
        unit: 'short',
        queries: [
          { expr: `sum by (pipeline) (${pipelineSel(pipelineJobsInProgress.name)})`, legend: '{{pipeline}} in progress' },
          { expr: `max by (pipeline) (${pipelineSel(pipelineQueueDepth.name)})`, legend: '{{pipeline}} queued' },
        ],
        links: runbooks(s, 'PipelineJobsStuck', 'PipelineQueueBacklog'),
      },
      {
        kind: 'timeseries',
        title: 'Job error ratio',
        description: `Failed and abandoned over counted jobs; budget is ${Math.round((1 - s.slo.target) * 10000) / 100}% of jobs.`,
        unit: 'percentunit',
        queries: [
          {
            expr: jobErrorRatio(s),
            legend: '{{pipeline}}',
          },
        ],
        links: runbooks(s, 'PipelineErrorBudgetFastBurn', 'PipelineErrorBudgetSlowBurn'),
      },
      {
        kind: 'timeseries',
        title: 'Items processed per second by outcome',
        description: 'Items a job handles (pages indexed or failed, files uploaded).',
        unit: 'cps',
        queries: [{ expr: `sum by (pipeline, outcome) (${rate(pipelineSel(pipelineItems.name))})`, legend: '{{pipeline}} {{outcome}}' }],
      },
    ],
  );
}

/** dashboards returns every dashboard, keyed by its file name under grafana/dashboards/. */
export function dashboards(s: Settings): { file: string; dashboard: Dashboard }[] {
  return [
    { file: 'fleet-overview.json', dashboard: fleet(s) },
    { file: 'scraper-detail.json', dashboard: scraper(s) },
    { file: 'pipeline-detail.json', dashboard: pipeline(s) },
  ];
}

/** grafanaFiles renders the provisioning and dashboards, paths relative to deploy/grafana/. */
export function grafanaFiles(s: Settings): { path: string; content: string }[] {
  return [
    {
      path: 'provisioning/datasources/prometheus.yml',
      content: toYaml({
        apiVersion: 1,
        datasources: [
          {
            name: DATASOURCE_NAME,
            type: 'prometheus',
            uid: DATASOURCE_UID,
            access: 'proxy',
            url: s.grafana.datasourceUrl,
            isDefault: true,
            // $__rate_interval is at least four scrape intervals only when Grafana knows the interval.
            jsonData: { timeInterval: s.scrapeInterval },
          },
        ],
      }),
    },
    {
      path: 'provisioning/dashboards/pipemeter.yml',
      content: toYaml({
        apiVersion: 1,
        providers: [
          {
            name: 'pipemeter',
            folder: s.grafana.folder,
            type: 'file',
            disableDeletion: true,
            // Dashboards are generated: edits belong in the generator, not in the UI.
            allowUiUpdates: false,
            options: { path: s.grafana.dashboardsPath },
          },
        ],
      }),
    },
    ...dashboards(s).map((d) => ({ path: `dashboards/${d.file}`, content: toJson(d.dashboard) })),
  ];
}
