/** Grafana dashboards as typed JSON (fleet, scraper, pipeline) and the provisioning files that load them. */
import {
  type FamilyDef,
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
import { runbookAnchor } from './alerts.js';
import { dashboardUids } from './grafana-ids.js';
import { histogramQuantile, oneOf, quantileTag, ratio, selector } from './promql.js';
import type { Settings } from './settings.js';
import { toJson, toYaml } from './yaml.js';

/** Grafana unit ids used here (https://grafana.com/docs/grafana/latest/panels-visualizations/configure-standard-options/). */
export type Unit = 's' | 'percentunit' | 'cps' | 'short' | 'none';

export interface Target {
  refId: string;
  expr: string;
  legendFormat: string;
  datasource: DatasourceRef;
  format?: 'time_series' | 'heatmap';
  /** Minimum step, e.g. `1h` for per-hour bars. */
  interval?: string;
}

export interface DatasourceRef {
  type: 'prometheus';
  uid: '${datasource}';
}

export interface PanelLink {
  title: string;
  url: string;
  targetBlank: boolean;
}

export interface Panel {
  id: number;
  type: 'timeseries' | 'heatmap' | 'stat';
  title: string;
  description: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: DatasourceRef;
  targets: Target[];
  fieldConfig: { defaults: { unit: Unit; custom?: Record<string, unknown> }; overrides: [] };
  options: Record<string, unknown>;
  links: PanelLink[];
  interval?: string;
}

export interface Variable {
  name: string;
  label: string;
  type: 'datasource' | 'query';
  query: string;
  hide: 0;
  refresh: 1 | 2;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
  current: Record<string, never>;
  datasource?: DatasourceRef;
  definition?: string;
  sort?: 1;
}

export interface DashboardLink {
  title: string;
  type: 'link' | 'dashboards';
  url?: string;
  tags?: string[];
  asDropdown?: boolean;
  targetBlank: boolean;
  includeVars?: boolean;
  keepTime?: boolean;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  editable: boolean;
  schemaVersion: number;
  version: number;
  timezone: 'browser';
  time: { from: string; to: 'now' };
  refresh: string;
  links: DashboardLink[];
  templating: { list: Variable[] };
  panels: Panel[];
}

const DS: DatasourceRef = { type: 'prometheus', uid: '${datasource}' };
/** Grafana computes this per panel from the scrape interval; never a fixed window in a dashboard. */
const RI = '$__rate_interval';
const TAG = 'pipemeter';

/** A panel before layout: ids and positions are assigned in order, two panels per row. */
interface PanelSpec {
  title: string;
  description: string;
  unit: Unit;
  targets: { expr: string; legend: string; interval?: string }[];
  type?: Panel['type'];
  /** Alerts this panel explains; each becomes a runbook link. */
  alerts?: string[];
  /** Bars, e.g. throughput per hour. */
  bars?: boolean;
  wide?: boolean;
}

function variables(owner: 'scraper' | 'pipeline' | 'both'): Variable[] {
  const q = (name: string, query: string): Variable => ({
    name,
    label: name,
    type: 'query',
    query,
    definition: query,
    datasource: DS,
    hide: 0,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: {},
    sort: 1,
  });
  const list: Variable[] = [
    { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', hide: 0, refresh: 1, current: {} },
    q('job', 'label_values(up, job)'),
  ];
  if (owner !== 'pipeline') list.push(q('scraper', `label_values(${scraperRuns.name}{job=~"$job"}, scraper)`));
  // Runs and finished jobs start at zero for every scraper and pipeline, so the lists are complete from the start.
  if (owner !== 'scraper') list.push(q('pipeline', `label_values(${pipelineJobsFinished.name}{job=~"$job"}, pipeline)`));
  return list;
}

function layout(s: Settings, specs: PanelSpec[]): Panel[] {
  let x = 0;
  let y = 0;
  return specs.map((p, i) => {
    const w = p.wide === true ? 24 : 12;
    if (x + w > 24) {
      x = 0;
      y += 8;
    }
    const panel: Panel = {
      id: i + 1,
      type: p.type ?? 'timeseries',
      title: p.title,
      description: p.description,
      gridPos: { x, y, w, h: 8 },
      datasource: DS,
      targets: p.targets.map((t, j) => ({
        refId: String.fromCharCode(65 + j),
        expr: t.expr,
        legendFormat: t.legend,
        datasource: DS,
        ...(p.type === 'heatmap' ? { format: 'heatmap' as const } : {}),
        ...(t.interval === undefined ? {} : { interval: t.interval }),
      })),
      fieldConfig: {
        defaults: { unit: p.unit, ...(p.bars === true ? { custom: { drawStyle: 'bars', fillOpacity: 80 } } : {}) },
        overrides: [],
      },
      options:
        p.type === 'heatmap'
          ? { calculate: false, yAxis: { unit: p.unit }, cellGap: 1, color: { scheme: 'Oranges', mode: 'scheme' } }
          : { legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } },
      links: (p.alerts ?? []).map((a) => ({ title: `Runbook: ${a}`, url: `${s.runbookBaseUrl}#${runbookAnchor(a)}`, targetBlank: true })),
    };
    x += w;
    if (x >= 24) {
      x = 0;
      y += 8;
    }
    return panel;
  });
}

function dashboard(s: Settings, uid: string, title: string, description: string, owner: 'scraper' | 'pipeline' | 'both', specs: PanelSpec[]): Dashboard {
  const grafana = s.grafana.url.replace(/\/$/, '');
  return {
    uid,
    title,
    description,
    tags: [TAG],
    editable: false,
    schemaVersion: 39,
    version: 1,
    timezone: 'browser',
    time: { from: s.grafana.timeFrom, to: 'now' },
    refresh: s.grafana.refresh,
    links: [
      { title: 'pipemeter dashboards', type: 'dashboards', tags: [TAG], asDropdown: true, targetBlank: false, includeVars: true, keepTime: true },
      { title: 'Firing alerts', type: 'link', url: `${grafana}/alerting/list?search=state:firing`, targetBlank: true },
      { title: 'Runbooks', type: 'link', url: s.runbookBaseUrl, targetBlank: true },
    ],
    templating: { list: variables(owner) },
    panels: layout(s, specs),
  };
}

const scraperSel = (name: string, extra: Record<string, string> = {}) => selector(name, { job: '~$job', scraper: '~$scraper', ...extra });
const pipelineSel = (name: string, extra: Record<string, string> = {}) => selector(name, { job: '~$job', pipeline: '~$pipeline', ...extra });
const rate = (sel: string) => `rate(${sel}[${RI}])`;

/** quantiles renders one target per recorded quantile of a histogram, by the given labels, filtered by the dashboard variables. */
function quantiles(s: Settings, f: FamilyDef, by: string[], matchers: Record<string, string>, legend: string) {
  return s.quantiles.map((q) => ({
    expr: histogramQuantile(f, q, RI, by, matchers),
    legend: `${quantileTag(q)}${legend === '' ? '' : ` ${legend}`}`,
  }));
}

/** jobErrorRatio is failed and abandoned jobs over counted ones, per pipeline: the SLO's error ratio. */
function jobErrorRatio(s: Settings): string {
  return ratio(
    `sum by (pipeline) (${rate(pipelineSel(pipelineJobsFinished.name, { outcome: oneOf(s.slo.badOutcomes) }))})`,
    `sum by (pipeline) (${rate(pipelineSel(pipelineJobsFinished.name, { outcome: oneOf(s.slo.countedOutcomes) }))})`,
  );
}

const scraperMatch = { job: '~$job', scraper: '~$scraper' };
const pipelineMatch = { job: '~$job', pipeline: '~$pipeline' };

function fleet(s: Settings): Dashboard {
  return dashboard(s, dashboardUids.fleet, 'pipemeter / Fleet overview', 'Every scraper and pipeline at a glance: targets, items, errors, jobs.', 'both', [
    {
      title: 'Targets up by job',
      description: 'Scrape targets that answered, per job; a drop is TargetDown, a job at zero is TargetAbsent.',
      unit: 'short',
      targets: [{ expr: 'sum by (job) (up{job=~"$job"})', legend: '{{job}}' }],
      alerts: ['TargetDown', 'TargetAbsent'],
    },
    {
      title: 'Firing alerts',
      description: 'Alerts Prometheus is firing now, by name and severity.',
      unit: 'short',
      targets: [{ expr: 'sum by (alertname, severity) (ALERTS{alertstate="firing"})', legend: '{{alertname}} ({{severity}})' }],
    },
    {
      title: 'Items created per second by scraper',
      description: 'All item types and sources summed.',
      unit: 'cps',
      targets: [{ expr: `sum by (scraper) (${rate(scraperSel(scraperItemsCreated.name))})`, legend: '{{scraper}}' }],
      alerts: ['ScraperNoItemsCreated', 'ScraperItemRateDrop'],
    },
    {
      title: 'Schema errors per item by scraper',
      description: 'Schema errors divided by items created; the alert threshold is in the deploy settings.',
      unit: 'percentunit',
      targets: [
        {
          expr: ratio(`sum by (scraper) (${rate(scraperSel(scraperSchemaErrors.name))})`, `sum by (scraper) (${rate(scraperSel(scraperItemsCreated.name))})`),
          legend: '{{scraper}}',
        },
      ],
      alerts: ['ScraperHighSchemaErrorRate'],
    },
    {
      title: 'Time since last successful run',
      description: 'Age of each scraper\'s last success; a scraper that never succeeded has no line.',
      unit: 's',
      targets: [{ expr: `time() - max by (scraper) (${scraperSel(scraperLastSuccess.name)})`, legend: '{{scraper}}' }],
      alerts: ['ScraperNoRecentSuccess'],
    },
    {
      title: 'Jobs finished per second by pipeline and outcome',
      description: 'Completed, failed, cancelled and abandoned jobs.',
      unit: 'cps',
      targets: [{ expr: `sum by (pipeline, outcome) (${rate(pipelineSel(pipelineJobsFinished.name))})`, legend: '{{pipeline}} {{outcome}}' }],
    },
    {
      title: 'Job error ratio by pipeline',
      description: `Failed and abandoned jobs over counted jobs (cancelled excluded); the SLO target is ${s.slo.target}.`,
      unit: 'percentunit',
      targets: [
        {
          expr: jobErrorRatio(s),
          legend: '{{pipeline}}',
        },
      ],
      alerts: ['PipelineErrorBudgetFastBurn', 'PipelineErrorBudgetSlowBurn'],
    },
    {
      title: 'Jobs in progress and queued by pipeline',
      description: 'In progress summed over workers; queue depth is the max, as workers sharing a queue report the same depth.',
      unit: 'short',
      targets: [
        { expr: `sum by (pipeline) (${pipelineSel(pipelineJobsInProgress.name)})`, legend: '{{pipeline}} in progress' },
        { expr: `max by (pipeline) (${pipelineSel(pipelineQueueDepth.name)})`, legend: '{{pipeline}} queued' },
      ],
      alerts: ['PipelineJobsStuck', 'PipelineQueueBacklog'],
    },
    {
      title: 'Data pipemeter ignored, folded, refused or lost',
      description:
        'Recording calls pipemeter ignored, recordings folded into overflow series, events the sidecar refused and StatsD ' +
        'datagrams the kernel dropped; all should be zero.',
      unit: 'cps',
      wide: true,
      targets: [
        { expr: `sum by (job, reason) (rate(${instrumentationErrors.name}{job=~"$job"}[${RI}]))`, legend: '{{job}} {{reason}}' },
        { expr: `sum by (job, metric) (rate(${seriesOverflow.name}{job=~"$job"}[${RI}]))`, legend: '{{job}} overflow {{metric}}' },
        { expr: `sum by (job, source) (rate(${selector(ingestEvents.name, { job: '~$job', outcome: 'rejected' })}[${RI}]))`, legend: '{{job}} {{source}} refused' },
        { expr: `sum by (job) (rate(${statsdDatagramsDropped.name}{job=~"$job"}[${RI}]))`, legend: '{{job}} statsd dropped' },
      ],
      alerts: ['PipemeterSeriesOverflow', 'PipemeterIngestRejected', 'PipemeterStatsdDatagramsDropped'],
    },
  ]);
}

function scraper(s: Settings): Dashboard {
  return dashboard(s, dashboardUids.scraper, 'pipemeter / Scraper detail', 'One scraper (or a few): items by type and source, schema errors, runs and their duration.', 'scraper', [
    {
      title: 'Items created per second by item type',
      description: 'What the scraper builds, per item type.',
      unit: 'cps',
      targets: [{ expr: `sum by (scraper, item_type) (${rate(scraperSel(scraperItemsCreated.name))})`, legend: '{{scraper}} {{item_type}}' }],
      alerts: ['ScraperItemRateDrop'],
    },
    {
      title: 'Items created per day',
      description: 'Throughput per day, by scraper.',
      unit: 'short',
      bars: true,
      targets: [{ expr: `sum by (scraper) (increase(${scraperSel(scraperItemsCreated.name)}[1d]))`, legend: '{{scraper}}', interval: '1d' }],
      alerts: ['ScraperNoItemsCreated'],
    },
    {
      title: 'Items created per second by source',
      description: 'Source domains; an empty source is a series started at zero before any item.',
      unit: 'cps',
      targets: [{ expr: `sum by (scraper, source) (${rate(scraperSel(scraperItemsCreated.name))})`, legend: '{{scraper}} {{source}}' }],
    },
    {
      title: 'Schema errors per second by error type',
      description: 'Rejected or unbuildable items, by error and item type.',
      unit: 'cps',
      targets: [
        { expr: `sum by (scraper, error_type, item_type) (${rate(scraperSel(scraperSchemaErrors.name))})`, legend: '{{scraper}} {{error_type}} {{item_type}}' },
      ],
      alerts: ['ScraperHighSchemaErrorRate'],
    },
    {
      title: 'Runs per second by outcome',
      description: 'Finished runs, successes and failures.',
      unit: 'cps',
      targets: [{ expr: `sum by (scraper, outcome) (${rate(scraperSel(scraperRuns.name))})`, legend: '{{scraper}} {{outcome}}' }],
      alerts: ['ScraperNoRecentSuccess'],
    },
    {
      title: 'Run duration p50 / p95 / p99',
      description: 'Wall time of a run, all outcomes, from the run-duration histogram.',
      unit: 's',
      targets: quantiles(s, scraperRunDuration, ['scraper'], scraperMatch, '{{scraper}}'),
    },
    {
      title: 'Time since last successful run',
      description: 'A scraper that never succeeded has no line.',
      unit: 's',
      wide: true,
      targets: [{ expr: `time() - max by (scraper) (${scraperSel(scraperLastSuccess.name)})`, legend: '{{scraper}}' }],
      alerts: ['ScraperNoRecentSuccess'],
    },
  ]);
}

function pipeline(s: Settings): Dashboard {
  const stageP = (q: number): PanelSpec => ({
    title: `Stage duration ${quantileTag(q)} by stage`,
    description: `${quantileTag(q)} of the time spent in each stage, all outcomes.`,
    unit: 's',
    targets: [{ expr: histogramQuantile(pipelineStageDuration, q, RI, ['pipeline', 'stage'], pipelineMatch), legend: '{{pipeline}} {{stage}}' }],
    alerts: ['PipelineStageLatencyHigh'],
  });
  return dashboard(
    s,
    dashboardUids.pipeline,
    'pipemeter / Pipeline detail',
    'One pipeline (or a few): stage latency, queue wait against processing, real-time factor, failures, throughput.',
    'pipeline',
    [
      ...s.quantiles.map(stageP),
      {
        title: 'Queue wait vs processing time (p50, p95)',
        description: 'Time queued before start beside time from start to finish: which one grows tells you whether to add workers or speed them up.',
        unit: 's',
        targets: [0.5, 0.95].flatMap((q) => [
          { expr: histogramQuantile(pipelineQueueWait, q, RI, ['pipeline'], pipelineMatch), legend: `${quantileTag(q)} queue wait {{pipeline}}` },
          { expr: histogramQuantile(pipelineJobDuration, q, RI, ['pipeline'], pipelineMatch), legend: `${quantileTag(q)} processing {{pipeline}}` },
        ]),
        alerts: ['PipelineQueueBacklog'],
      },
      {
        title: 'Job duration and end-to-end latency p50 / p95 / p99',
        description: 'Processing (start to finish) and end to end (request or queueing to finish).',
        unit: 's',
        targets: [
          ...quantiles(s, pipelineJobDuration, ['pipeline'], pipelineMatch, 'processing {{pipeline}}'),
          ...quantiles(s, pipelineJobE2eDuration, ['pipeline'], pipelineMatch, 'e2e {{pipeline}}'),
        ],
      },
      {
        title: 'Real-time factor distribution',
        description: 'Processing seconds per second of media, one observation per finished job.',
        unit: 'none',
        type: 'heatmap',
        targets: [{ expr: `sum by (le) (increase(${pipelineSel(`${pipelineRealtimeFactor.name}_bucket`)}[${RI}]))`, legend: '{{le}}' }],
        alerts: ['PipelineHighRealtimeFactor'],
      },
      {
        title: 'Failures by stage',
        description: 'Failed jobs attributed to the stage that failed.',
        unit: 'short',
        bars: true,
        targets: [{ expr: `sum by (pipeline, stage) (increase(${pipelineSel(pipelineJobFailures.name)}[${RI}]))`, legend: '{{pipeline}} {{stage}}' }],
        alerts: ['PipelineFailureRateHigh'],
      },
      {
        title: 'Stage failure ratio',
        description: 'Stage executions that failed over all executions of the stage.',
        unit: 'percentunit',
        targets: [
          {
            expr: ratio(
              `sum by (pipeline, stage) (${rate(pipelineSel(`${pipelineStageDuration.name}_count`, { outcome: 'failure' }))})`,
              `sum by (pipeline, stage) (${rate(pipelineSel(`${pipelineStageDuration.name}_count`))})`,
            ),
            legend: '{{pipeline}} {{stage}}',
          },
        ],
        alerts: ['PipelineFailureRateHigh'],
      },
      {
        title: 'Jobs finished per hour',
        description: 'Throughput per hour by outcome.',
        unit: 'short',
        bars: true,
        targets: [{ expr: `sum by (pipeline, outcome) (increase(${pipelineSel(pipelineJobsFinished.name)}[1h]))`, legend: '{{pipeline}} {{outcome}}', interval: '1h' }],
      },
      {
        title: 'Jobs finished per day',
        description: 'Throughput per day by outcome.',
        unit: 'short',
        bars: true,
        targets: [{ expr: `sum by (pipeline, outcome) (increase(${pipelineSel(pipelineJobsFinished.name)}[1d]))`, legend: '{{pipeline}} {{outcome}}', interval: '1d' }],
      },
      {
        title: 'In progress and queued',
        description: 'Jobs started and not finished (summed over workers); queue depth (max over reporters of one queue).',
        unit: 'short',
        targets: [
          { expr: `sum by (pipeline) (${pipelineSel(pipelineJobsInProgress.name)})`, legend: '{{pipeline}} in progress' },
          { expr: `max by (pipeline) (${pipelineSel(pipelineQueueDepth.name)})`, legend: '{{pipeline}} queued' },
        ],
        alerts: ['PipelineJobsStuck', 'PipelineQueueBacklog'],
      },
      {
        title: 'Job error ratio',
        description: `Failed and abandoned over counted jobs; budget is ${Math.round((1 - s.slo.target) * 10000) / 100}% of jobs.`,
        unit: 'percentunit',
        targets: [
          {
            expr: jobErrorRatio(s),
            legend: '{{pipeline}}',
          },
        ],
        alerts: ['PipelineErrorBudgetFastBurn', 'PipelineErrorBudgetSlowBurn'],
      },
      {
        title: 'Items processed per second by outcome',
        description: 'Items a job handles (pages indexed or failed, files uploaded).',
        unit: 'cps',
        targets: [{ expr: `sum by (pipeline, outcome) (${rate(pipelineSel(pipelineItems.name))})`, legend: '{{pipeline}} {{outcome}}' }],
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

/** Datasource uid the provisioning creates; dashboards select it through the datasource variable. */
const DATASOURCE_UID = 'pipemeter-prometheus';

/** grafanaFiles renders the provisioning and dashboards, paths relative to deploy/grafana/. */
export function grafanaFiles(s: Settings): { path: string; content: string }[] {
  return [
    {
      path: 'provisioning/datasources/prometheus.yml',
      content: toYaml({
        apiVersion: 1,
        datasources: [
          {
            name: 'Prometheus',
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
