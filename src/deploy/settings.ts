/** Deploy settings: every threshold, window, selector and channel the generated assets use, with defaults in one place. */

/** A Prometheus duration such as `30s`, `1h30m`, `7d` (the grammar of src/shared/units.ts, whole numbers). */
export type Duration = string;

/** Severity labels Alertmanager routes on. */
export type Severity = 'critical' | 'warning' | 'info';

/** One alert's knobs: how long the condition must hold, and how loud it is. */
export interface AlertKnobs {
  /** `for:` of the rule; each default below says why it was chosen. */
  for: Duration;
  severity: Severity;
}

/** Settings is what the generators read besides the catalog: the mixins' `_config`. */
export interface Settings {
  /** Scrape job names; alerts about targets select on these. */
  jobs: {
    /** The sidecar (`pipemeter serve`). */
    sidecar: string;
    /** Node scrapers and workers that mount `/metrics` themselves, found through file_sd. */
    workers: string;
    nodeExporter: string;
  };
  /** Static targets for the sidecar and node_exporter; workers come from `prometheus/targets/*.yml`. */
  targets: { sidecar: readonly string[]; nodeExporter: readonly string[]; alertmanager: readonly string[] };
  /** Example worker targets written to the file_sd file (replace with your own, or let a tool write the file). */
  workerTargets: readonly string[];
  scrapeInterval: Duration;
  evaluationInterval: Duration;
  /** Window of the recording rules' rates and quantiles. */
  rateWindow: Duration;
  /** Quantiles recorded for every histogram. */
  quantiles: readonly number[];
  /** Jobs whose complete disappearance TargetAbsent reports (node_exporter is optional, so not here by default). */
  absentJobs: readonly string[];

  scraper: {
    noItems: AlertKnobs & { window: Duration };
    schemaErrors: AlertKnobs & { window: Duration; maxRatio: number };
    itemRateDrop: AlertKnobs & { window: Duration; baseline: Duration; minRatioOfBaseline: number };
    noRecentSuccess: AlertKnobs & { maxAgeSeconds: number; window: Duration; memory: Duration };
  };
  targetDown: AlertKnobs;
  targetAbsent: AlertKnobs;
  probeFailing: AlertKnobs;
  pipeline: {
    stageLatency: AlertKnobs & { quantile: number; maxSeconds: number };
    failureRate: AlertKnobs & { window: Duration; maxRatio: number };
    queueBacklog: AlertKnobs & { quantile: number; maxWaitSeconds: number; maxDepth: number };
    jobsStuck: AlertKnobs & { window: Duration };
    realtimeFactor: AlertKnobs & { quantile: number; window: Duration; max: number };
  };
  /** HTTP servers instrumented with meter.http(): the share of requests answered with a server error. */
  http: {
    errorRate: AlertKnobs & { window: Duration; maxRatio: number; minRequestsPerSecond: number };
  };
  /** pipemeter watching itself: data it had to fold, refuse or lose, which it counts but cannot fix. */
  self: {
    seriesOverflow: AlertKnobs & { window: Duration };
    ingestRejected: AlertKnobs & { window: Duration; maxRatio: number };
    statsdDropped: AlertKnobs & { window: Duration };
  };
  /** Job-success SLO, alerted with the SRE workbook's multiwindow multi-burn-rate windows. */
  slo: {
    /** Target fraction of counted jobs that complete, e.g. 0.99. */
    target: number;
    /** Period the error budget is counted over; the burn-rate factors below assume 30 days. */
    window: Duration;
    /** Outcomes that spend the error budget. */
    badOutcomes: readonly string[];
    /** Outcomes counted at all; `cancelled` is the user's choice and spends nothing. */
    countedOutcomes: readonly string[];
    page: AlertKnobs & { windows: readonly BurnWindow[] };
    ticket: AlertKnobs & { windows: readonly BurnWindow[] };
  };
  alertmanager: {
    /** Alertmanager's web UI as people reach it (its `--web.external-url`); dashboards link to it. */
    url: string;
    /** Read at run time; the webhook URL is never committed. */
    slackApiUrlFile: string;
    channels: { critical: string; warning: string };
    repeat: { critical: Duration; warning: Duration };
    groupBy: readonly string[];
    groupWait: Duration;
    groupInterval: Duration;
  };
  grafana: {
    url: string;
    datasourceUrl: string;
    /** Folder the provisioned dashboards appear in. */
    folder: string;
    /** Where the dashboards directory is mounted in the Grafana container (the provider reads it). */
    dashboardsPath: string;
    /** Default time range of the dashboards. */
    timeFrom: string;
    refresh: Duration;
  };
  /** Where `docs/runbooks.md` is published; alerts link to `<runbookBaseUrl>#<alertname-lowercase>`. */
  runbookBaseUrl: string;
}

/** One burn-rate pair: the long window catches the burn, the short one makes the alert reset quickly once it stops. */
export interface BurnWindow {
  long: Duration;
  short: Duration;
  factor: number;
}

/** defaults are the thresholds the users ran before (6 h, 5 %, 50 % of 7 d, 2 h) and the SRE workbook's SLO windows. */
export const defaults: Settings = {
  jobs: { sidecar: 'pipemeter', workers: 'pipemeter-workers', nodeExporter: 'node' },
  // Local first: `npm start` (the sidecar and the demo fleet), Prometheus, Alertmanager and node_exporter on one
  // host work with these files as shipped. In production, set your hosts here (or in the file_sd file) and regenerate.
  targets: {
    sidecar: ['localhost:9464'],
    nodeExporter: ['localhost:9100'],
    alertmanager: ['localhost:9093'],
  },
  // Empty until you list your Node workers (host:port of their /metrics) in prometheus/targets/workers.yml.
  workerTargets: [],
  scrapeInterval: '30s',
  evaluationInterval: '1m',
  rateWindow: '5m',
  quantiles: [0.5, 0.95, 0.99],
  // Add 'pipemeter-workers' once that job has targets, so a vanished worker job pages too.
  absentJobs: ['pipemeter'],

  scraper: {
    // The window is the 6 h the fleet relied on; `for` only rides out one missed evaluation.
    noItems: { window: '6h', for: '5m', severity: 'critical' },
    // 15 m so one bad page burst over an hour's rate does not page; a real schema change persists.
    schemaErrors: { window: '1h', maxRatio: 0.05, for: '15m', severity: 'warning' },
    // 30 m: hourly rates of bursty scrapers swing; a real drop lasts.
    itemRateDrop: { window: '1h', baseline: '7d', minRatioOfBaseline: 0.5, for: '30m', severity: 'warning' },
    // The age threshold is the 2 h window; `for` covers a scrape gap. `memory` keeps the last success across a restart.
    noRecentSuccess: { maxAgeSeconds: 7200, window: '2h', memory: '1d', for: '5m', severity: 'critical' },
  },
  // 5 m: ten scrapes at 30 s, longer than a rolling restart.
  targetDown: { for: '5m', severity: 'critical' },
  // 10 m: a redeploy that renames targets briefly leaves a job empty.
  targetAbsent: { for: '10m', severity: 'critical' },
  // 5 m: a probe fails once on a slow start; five minutes of failures is an unhealthy container.
  probeFailing: { for: '5m', severity: 'critical' },
  pipeline: {
    // 15 m: one slow batch moves a 5 m p95; a quarter hour is a trend worth a look.
    stageLatency: { quantile: 0.95, maxSeconds: 600, for: '15m', severity: 'warning' },
    // 15 m over a 15 m rate: a failure spike that lasts half an hour of work.
    failureRate: { window: '15m', maxRatio: 0.1, for: '15m', severity: 'warning' },
    // 15 m: queues fill in bursts and drain; only a backlog that stays matters.
    queueBacklog: { quantile: 0.95, maxWaitSeconds: 1800, maxDepth: 1000, for: '15m', severity: 'warning' },
    // 15 m on top of a 1 h window: long jobs (video) legitimately finish nothing for a while.
    jobsStuck: { window: '1h', for: '15m', severity: 'warning' },
    // 30 m: RTF is observed once per finished job, so the 1 h quantile moves slowly.
    realtimeFactor: { quantile: 0.95, window: '1h', max: 2, for: '30m', severity: 'warning' },
  },
  http: {
    // 5xx answers to 5 % of requests for 10 m are failures users see; below 0.1 request/s (6 a minute) a single
    // error is a large ratio, so an idle service does not page for it.
    errorRate: { window: '5m', maxRatio: 0.05, minRequestsPerSecond: 0.1, for: '10m', severity: 'critical' },
  },
  self: {
    // A family at its cap folds every new label set for as long as they keep coming; 5 m rides out one burst.
    seriesOverflow: { window: '15m', for: '5m', severity: 'warning' },
    // 1 % of events refused for a quarter hour is a sender with a bug, not one bad request.
    ingestRejected: { window: '15m', maxRatio: 0.01, for: '15m', severity: 'warning' },
    // Drops come in bursts larger than the socket buffer; any in the window is data lost, so `for` is short.
    statsdDropped: { window: '15m', for: '1m', severity: 'warning' },
  },
  slo: {
    target: 0.99,
    // The SRE workbook's period; Prometheus keeps 15 d by default, so give it at least this much retention.
    window: '30d',
    badOutcomes: ['failed', 'abandoned'],
    countedOutcomes: ['completed', 'failed', 'abandoned'],
    // SRE workbook table 5-8: 2 % of the 30-day budget in 1 h, 5 % in 6 h page; 2 m `for` as in the workbook.
    page: {
      windows: [
        { long: '1h', short: '5m', factor: 14.4 },
        { long: '6h', short: '30m', factor: 6 },
      ],
      for: '2m',
      severity: 'critical',
    },
    // 10 % in 3 d and 1x over 3 d open a ticket; 15 m as these windows move slowly anyway.
    ticket: {
      windows: [
        { long: '1d', short: '2h', factor: 3 },
        { long: '3d', short: '6h', factor: 1 },
      ],
      for: '15m',
      severity: 'warning',
    },
  },
  alertmanager: {
    url: 'http://localhost:9093',
    slackApiUrlFile: '/etc/alertmanager/slack_webhook_url',
    channels: { critical: '#pipemeter-critical', warning: '#pipemeter-warning' },
    repeat: { critical: '1h', warning: '4h' },
    groupBy: ['alertname', 'scraper', 'pipeline'],
    groupWait: '30s',
    groupInterval: '5m',
  },
  grafana: {
    url: 'http://localhost:3000',
    datasourceUrl: 'http://localhost:9090',
    folder: 'pipemeter',
    dashboardsPath: '/var/lib/grafana/dashboards/pipemeter',
    timeFrom: 'now-24h',
    refresh: '1m',
  },
  runbookBaseUrl: 'https://github.com/pipemeter/pipemeter/blob/main/docs/runbooks.md',
};
