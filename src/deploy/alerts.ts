/** Alerting rules, written once by label (never per scraper), each with the runbook text docs/runbooks.md is made of. */
import {
  httpServerActiveRequests,
  httpServerRequestDuration,
  ingestEvents,
  ingestRejected,
  pipelineJobFailures,
  pipelineJobsFinished,
  pipelineJobsInProgress,
  pipelineQueueDepth,
  pipelineQueueWait,
  pipelineRealtimeFactor,
  pipelineStageDuration,
  probeSuccess,
  scraperItemsCreated,
  scraperLastSuccess,
  scraperRuns,
  scraperSchemaErrors,
  seriesOverflow,
  statsdDatagramsDropped,
} from '../catalog/index.js';
import { DENOMINATOR_FLOOR, histogramObservations, histogramQuantile, jobsMatcher, oneOf, own, ownMatchers, quantileTag, ratio, selector, sumBy, targetJobs } from './promql.js';
import { type AlertingRule, HTTP_REQUESTS, type RuleGroup, httpErrorRatioRecord, httpRequestRates, quantileRecord, sloErrorRatioRecord } from './rules.js';
import type { AlertKnobs, BurnWindow, Settings } from './settings.js';

/** How to handle an alert: the sections of its runbook entry. */
export interface Runbook {
  meaning: string;
  /** PromQL to paste into Prometheus or Grafana Explore. */
  look: string[];
  fix: string[];
}

/** The alert groups, in the order of the rule file: one `pipemeter-<group>-alerts` group each. */
export const ALERT_GROUPS = ['scraper', 'targets', 'pipeline', 'http', 'slo', 'self'] as const;

export interface AlertDef {
  group: (typeof ALERT_GROUPS)[number];
  rule: AlertingRule;
  runbook: Runbook;
}

/** runbookAnchor is the markdown anchor of an alert's heading (`## ScraperNoItemsCreated` → `scrapernoitemscreated`). */
export function runbookAnchor(alert: string): string {
  return alert.toLowerCase();
}

function pct(r: number): string {
  return `${Math.round(r * 10000) / 100}%`;
}

type Draft = Omit<AlertDef, 'rule'> & {
  alert: string;
  expr: string;
  knobs: AlertKnobs;
  summary: string;
  description: string;
};

function build(s: Settings, d: Draft): AlertDef {
  return {
    group: d.group,
    runbook: d.runbook,
    rule: {
      alert: d.alert,
      expr: d.expr,
      for: d.knobs.for,
      labels: { severity: d.knobs.severity },
      annotations: {
        summary: d.summary,
        description: d.description,
        runbook_url: `${s.runbookBaseUrl}#${runbookAnchor(d.alert)}`,
      },
    },
  };
}

function scraperAlerts(s: Settings): Draft[] {
  const { noItems, schemaErrors, itemRateDrop, noRecentSuccess } = s.scraper;
  const items = own(s, scraperItemsCreated.name);
  const runs = own(s, scraperRuns.name);
  const lastSuccess = `max by (scraper) (max_over_time(${own(s, scraperLastSuccess.name)}[${noRecentSuccess.memory}]))`;
  const exporting = `count by (scraper) (${runs})`;
  return [
    {
      group: 'scraper',
      alert: 'ScraperNoItemsCreated',
      // Second branch: a scraper that runs but has never created an item has no items series at all.
      // The offset guard keeps a scraper deployed less than the window ago from firing at once.
      expr:
        `(${sumBy(['scraper'], `increase(${items}[${noItems.window}])`)} == 0 ` +
        `or ${exporting} * 0 unless on (scraper) count by (scraper) (${items})) ` +
        `and on (scraper) count by (scraper) (${runs} offset ${noItems.window})`,
      knobs: noItems,
      summary: 'A scraper created no items.',
      description: `Scraper {{ $labels.scraper }} created no items in the last ${noItems.window}.`,
      runbook: {
        meaning: `The scraper has been exporting metrics for at least ${noItems.window} and created no item of any type in that time: it runs but finds nothing, or it does not run.`,
        look: [
          `sum by (scraper, item_type) (increase(${scraperItemsCreated.name}{scraper="<name>"}[1h]))`,
          `sum by (scraper, outcome) (increase(${scraperRuns.name}{scraper="<name>"}[1h]))`,
          `sum by (scraper, error_type) (increase(${scraperSchemaErrors.name}{scraper="<name>"}[1h]))`,
        ],
        fix: [
          'No runs at all: check the scheduler (cron, queue consumer) and the scraper logs.',
          'Runs but failures: see ScraperNoRecentSuccess; the site may block or have changed.',
          'Runs succeed with zero items: the page layout changed and the selectors match nothing; schema errors often rise too.',
        ],
      },
    },
    {
      group: 'scraper',
      alert: 'ScraperHighSchemaErrorRate',
      expr:
        ratio(
          sumBy(['scraper'], `rate(${own(s, scraperSchemaErrors.name)}[${schemaErrors.window}])`),
          sumBy(['scraper'], `rate(${items}[${schemaErrors.window}])`),
        ) + ` > ${schemaErrors.maxRatio}`,
      knobs: schemaErrors,
      summary: 'A scraper rejects too many items.',
      description:
        `Scraper {{ $labels.scraper }}: schema errors are {{ $value | humanizePercentage }} of items created ` +
        `over the last ${schemaErrors.window} (threshold ${pct(schemaErrors.maxRatio)}).`,
      runbook: {
        meaning: `More than ${pct(schemaErrors.maxRatio)} of the items the scraper built over ${schemaErrors.window} failed validation or could not be built.`,
        look: [
          `sum by (error_type, item_type) (rate(${scraperSchemaErrors.name}{scraper="<name>"}[${schemaErrors.window}]))`,
          `scraper:scraper_schema_errors:per_item_ratio_rate${s.rateWindow}{scraper="<name>"}`,
        ],
        fix: [
          '`http_error` dominates: the site throttles or blocks; slow down or rotate egress.',
          'Validation errors on one item type: the source changed a field; update the parser and its schema.',
          '`general_exception`: a bug; the scraper logs have the stack.',
        ],
      },
    },
    {
      group: 'scraper',
      alert: 'ScraperItemRateDrop',
      expr:
        `${sumBy(['scraper'], `rate(${items}[${itemRateDrop.window}])`)} < ${itemRateDrop.minRatioOfBaseline} * ` +
        sumBy(['scraper'], `rate(${items}[${itemRateDrop.baseline}])`),
      knobs: itemRateDrop,
      summary: 'A scraper creates far fewer items than usual.',
      description:
        `Scraper {{ $labels.scraper }} creates {{ $value | printf "%.3g" }} items/s over the last ${itemRateDrop.window}, ` +
        `under ${pct(itemRateDrop.minRatioOfBaseline)} of its ${itemRateDrop.baseline} average.`,
      runbook: {
        meaning: `The item rate over ${itemRateDrop.window} is below ${pct(itemRateDrop.minRatioOfBaseline)} of the scraper's own ${itemRateDrop.baseline} average: partial breakage (one item type or one source stopped) rather than a full stop.`,
        look: [
          `sum by (item_type, source) (rate(${scraperItemsCreated.name}{scraper="<name>"}[${itemRateDrop.window}]))`,
          `sum by (item_type, source) (rate(${scraperItemsCreated.name}{scraper="<name>"}[${itemRateDrop.baseline}]))`,
        ],
        fix: [
          'Compare by item_type and source to find what stopped; fix that parser or source.',
          'A planned change of schedule or scope also lowers the rate: the alert clears once the 7-day average follows.',
        ],
      },
    },
    {
      group: 'scraper',
      alert: 'ScraperNoRecentSuccess',
      // The timestamp appears only after a first success, so a scraper that has only ever failed is
      // caught by its failures with no timestamp; max_over_time keeps the timestamp across a restart.
      expr:
        `(time() - ${lastSuccess} > ${noRecentSuccess.maxAgeSeconds} and on (scraper) ${exporting}) ` +
        `or (${sumBy(['scraper'], `increase(${own(s, scraperRuns.name, { outcome: 'failure' })}[${noRecentSuccess.window}])`)} > 0 ` +
        `unless on (scraper) ${lastSuccess})`,
      knobs: noRecentSuccess,
      summary: 'A scraper has not succeeded recently.',
      description: `Scraper {{ $labels.scraper }} has not finished a successful run in the last ${noRecentSuccess.window}.`,
      runbook: {
        meaning: `The last successful run is older than ${noRecentSuccess.window}, or the scraper has failed runs and no success at all.`,
        look: [
          `time() - ${scraperLastSuccess.name}{scraper="<name>"}`,
          `sum by (outcome) (increase(${scraperRuns.name}{scraper="<name>"}[${noRecentSuccess.window}]))`,
        ],
        fix: [
          'Failures and no success: read the scraper logs for the failing step (login, fetch, parse).',
          'No runs at all: the scheduler or the container is down; see TargetDown and ProbeFailing.',
        ],
      },
    },
  ];
}

function targetAlerts(s: Settings): Draft[] {
  return [
    {
      group: 'targets',
      alert: 'TargetDown',
      expr: `${selector('up', { job: jobsMatcher(targetJobs(s)) })} == 0`,
      knobs: s.targetDown,
      summary: 'A scrape target is down.',
      description: `{{ $labels.instance }} of job {{ $labels.job }} has been unreachable for ${s.targetDown.for}.`,
      runbook: {
        meaning: 'Prometheus cannot scrape the target: the process is down, its port is closed, or /metrics fails.',
        look: ['up{job="<job>"} == 0', 'scrape_duration_seconds{job="<job>"}'],
        fix: [
          'Open the target page in Prometheus (Status → Targets) for the scrape error.',
          'Restart the process or container; check that /metrics answers with `pipemeter check`.',
        ],
      },
    },
    {
      group: 'targets',
      alert: 'TargetAbsent',
      expr: s.absentJobs.map((job) => `absent(${selector('up', { job })})`).join(' or '),
      knobs: s.targetAbsent,
      summary: 'A scrape job has no targets.',
      description: `No target of job {{ $labels.job }} has been scraped for ${s.targetAbsent.for}.`,
      runbook: {
        meaning: 'The job vanished: service discovery returns no targets or the scrape config lost the job. TargetDown cannot fire for targets that do not exist.',
        look: ['count by (job) (up)', 'prometheus_sd_discovered_targets'],
        fix: [
          'Check the file_sd file under prometheus/targets/ or the discovery the job uses.',
          'Check that prometheus.yml still has the job and was reloaded.',
        ],
      },
    },
    {
      group: 'targets',
      alert: 'ProbeFailing',
      expr: `min by (job, instance, target) (${own(s, probeSuccess.name)}) == 0`,
      knobs: s.probeFailing,
      summary: 'A health probe fails.',
      description: `Health probe of {{ $labels.target }} (instance {{ $labels.instance }}) has failed for ${s.probeFailing.for}.`,
      runbook: {
        meaning: 'The target answers scrapes but its health check fails: the container is unhealthy.',
        look: [`${own(s, probeSuccess.name)} == 0`, own(s, 'probe_duration_seconds')],
        fix: ['Read the container health log and the process logs; restart if it is wedged.'],
      },
    },
  ];
}

function pipelineAlerts(s: Settings): Draft[] {
  const { stageLatency, failureRate, queueBacklog, jobsStuck, realtimeFactor } = s.pipeline;
  const counted = own(s, pipelineJobsFinished.name, { outcome: oneOf(s.slo.countedOutcomes) });
  const waitP95 = histogramQuantile(pipelineQueueWait, queueBacklog.quantile, s.rateWindow, ['pipeline'], ownMatchers(s));
  return [
    {
      group: 'pipeline',
      alert: 'PipelineStageLatencyHigh',
      expr: `${histogramQuantile(pipelineStageDuration, stageLatency.quantile, s.rateWindow, ['pipeline', 'stage'], ownMatchers(s))} > ${stageLatency.maxSeconds}`,
      knobs: stageLatency,
      summary: 'A pipeline stage is slow.',
      description:
        `${quantileTag(stageLatency.quantile)} of stage {{ $labels.stage }} in pipeline {{ $labels.pipeline }} is ` +
        `{{ $value | humanizeDuration }} (threshold ${stageLatency.maxSeconds}s).`,
      runbook: {
        meaning: `The ${quantileTag(stageLatency.quantile)} time of one stage over ${s.rateWindow} is above ${stageLatency.maxSeconds}s.`,
        look: [
          `pipeline:${pipelineStageDuration.name}:p95_${s.rateWindow}{pipeline="<name>"}`,
          histogramObservations(pipelineStageDuration, 'count', 'rate', s.rateWindow, ['stage', 'outcome'], { pipeline: '<name>' }),
        ],
        fix: [
          'A dependency of the stage is slow (embedding API, vector store, transcription model): check its latency.',
          'Inputs grew (longer videos, bigger pages): compare with the RTF and item counts.',
        ],
      },
    },
    {
      group: 'pipeline',
      alert: 'PipelineFailureRateHigh',
      expr:
        `${sumBy(['pipeline', 'stage'], `rate(${own(s, pipelineJobFailures.name)}[${failureRate.window}])`)} / on (pipeline) group_left ` +
        `clamp_min(${sumBy(['pipeline'], `rate(${counted}[${failureRate.window}])`)}, ${DENOMINATOR_FLOOR}) > ${failureRate.maxRatio}`,
      knobs: failureRate,
      summary: 'Many jobs of a pipeline fail at one stage.',
      description:
        `{{ $value | humanizePercentage }} of jobs in pipeline {{ $labels.pipeline }} failed at stage {{ $labels.stage }} ` +
        `over the last ${failureRate.window} (threshold ${pct(failureRate.maxRatio)}).`,
      runbook: {
        meaning: `More than ${pct(failureRate.maxRatio)} of finished jobs failed, attributed to the named stage.`,
        look: [
          `sum by (stage) (rate(${pipelineJobFailures.name}{pipeline="<name>"}[${failureRate.window}]))`,
          `sum by (outcome) (rate(${pipelineJobsFinished.name}{pipeline="<name>"}[${failureRate.window}]))`,
        ],
        fix: [
          'Find a failed job id in the exemplars of the stage histogram or in the worker logs, and read its error.',
          'A failing dependency of that stage (API quota, storage) is the usual cause.',
        ],
      },
    },
    {
      group: 'pipeline',
      alert: 'PipelineQueueBacklog',
      expr:
        `label_replace(${waitP95} > ${queueBacklog.maxWaitSeconds}, "signal", "wait_${quantileTag(queueBacklog.quantile)}_seconds", "", "") ` +
        `or label_replace(max by (pipeline) (${own(s, pipelineQueueDepth.name)}) > ${queueBacklog.maxDepth}, "signal", "depth", "", "")`,
      knobs: queueBacklog,
      summary: 'A pipeline queue is backing up.',
      description:
        `Pipeline {{ $labels.pipeline }} queue backlog: {{ $labels.signal }} is {{ $value | printf "%.4g" }} ` +
        `(thresholds: wait ${quantileTag(queueBacklog.quantile)} ${queueBacklog.maxWaitSeconds}s, depth ${queueBacklog.maxDepth}).`,
      runbook: {
        meaning: 'Jobs wait too long before a worker picks them up, or too many are queued: arrivals outpace workers.',
        look: [
          `max by (pipeline) (${pipelineQueueDepth.name})`,
          `pipeline:${pipelineQueueWait.name}:p95_${s.rateWindow}`,
          `sum by (pipeline) (${pipelineJobsInProgress.name})`,
        ],
        fix: ['Add workers or concurrency; check that workers are not stuck (PipelineJobsStuck).', 'A burst of requests drains by itself: confirm the depth trend falls.'],
      },
    },
    {
      group: 'pipeline',
      alert: 'PipelineJobsStuck',
      // The offset guard, as ScraperNoItemsCreated's: a pipeline exporting for less than the window (a fresh deploy, a
      // Prometheus just started) has not had the window to finish anything, so it is not judged yet.
      expr:
        `${sumBy(['pipeline'], own(s, pipelineJobsInProgress.name))} > 0 and on (pipeline) ` +
        `${sumBy(['pipeline'], `increase(${own(s, pipelineJobsFinished.name)}[${jobsStuck.window}])`)} == 0 ` +
        `and on (pipeline) count by (pipeline) (${own(s, pipelineJobsFinished.name)} offset ${jobsStuck.window})`,
      knobs: jobsStuck,
      summary: 'A pipeline has jobs in progress and finishes none.',
      description: `Pipeline {{ $labels.pipeline }} has {{ $value }} jobs in progress and finished none in the last ${jobsStuck.window}.`,
      runbook: {
        meaning: `Jobs are in progress but none finished (any outcome) in ${jobsStuck.window}: workers hang, or lifecycle events (completed/failed webhooks) stopped arriving. A pipeline exported for less than ${jobsStuck.window} is not judged yet.`,
        look: [
          `sum by (pipeline) (${pipelineJobsInProgress.name})`,
          `sum by (pipeline, outcome) (increase(${pipelineJobsFinished.name}[${jobsStuck.window}]))`,
          'pipemeter_jobs_tracked',
        ],
        fix: [
          'Worker threads blocked on a dependency: take a stack dump, restart the worker.',
          'Webhook-driven jobs: check that the crawler still delivers completion webhooks to the sidecar.',
        ],
      },
    },
    {
      group: 'pipeline',
      alert: 'PipelineHighRealtimeFactor',
      expr: `${histogramQuantile(pipelineRealtimeFactor, realtimeFactor.quantile, realtimeFactor.window, ['pipeline'], ownMatchers(s))} > ${realtimeFactor.max}`,
      knobs: realtimeFactor,
      summary: 'A media pipeline processes slower than planned.',
      description:
        `${quantileTag(realtimeFactor.quantile)} real-time factor of pipeline {{ $labels.pipeline }} is {{ $value | humanize }} ` +
        `over ${realtimeFactor.window} (threshold ${realtimeFactor.max}).`,
      runbook: {
        meaning: `Processing takes more than ${realtimeFactor.max} seconds per second of media for the slowest jobs: capacity planning is off.`,
        look: [
          `pipeline:${pipelineRealtimeFactor.name}:p95_${s.rateWindow}`,
          histogramObservations(pipelineStageDuration, 'sum', 'rate', '1h', ['stage'], { pipeline: '<name>' }),
        ],
        fix: ['Find the stage that grew (transcription, scene detection) and check its hardware (GPU) and model size.'],
      },
    },
  ];
}

/** HTTP servers instrumented with meter.http(), by job: two services may share a route template. */
function httpAlerts(s: Settings): Draft[] {
  const { errorRate } = s.http;
  const { all, errors } = httpRequestRates(['job'], errorRate.window, ownMatchers(s));
  return [
    {
      group: 'http',
      alert: 'HttpServerErrorRateHigh',
      expr: `${ratio(errors, all)} > ${errorRate.maxRatio} and on (job) ${all} >= ${errorRate.minRequestsPerSecond}`,
      knobs: errorRate,
      summary: 'An HTTP server answers many requests with a server error.',
      description:
        `{{ $labels.job }} answered {{ $value | humanizePercentage }} of its requests with a 5xx status ` +
        `over the last ${errorRate.window} (threshold ${pct(errorRate.maxRatio)}).`,
      runbook: {
        meaning:
          `More than ${pct(errorRate.maxRatio)} of the requests the service answered over ${errorRate.window} got a server error ` +
          `(status 5xx), at ${errorRate.minRequestsPerSecond} request/s or more, so a few failures of an idle service do not fire it. ` +
          '4xx answers are the client\'s and do not count; neither do requests the client dropped before an answer (`status_code=""`).',
        look: [
          `sum by (route, method, status_code) (rate(${selector(HTTP_REQUESTS, { job: '<job>', status_code: '~5..' })}[${errorRate.window}]))`,
          `${httpErrorRatioRecord(s.rateWindow)}{job="<job>"}`,
          `${quantileRecord(httpServerRequestDuration, 0.99, s.rateWindow)}{job="<job>"}`,
          `sum by (job) (${httpServerActiveRequests.name}{job="<job>"})`,
        ],
        fix: [
          'One route dominates: read the service logs for that handler; a dependency it calls (database, upstream API) is the usual cause.',
          'Every route fails: the process is unhealthy or a shared dependency is down; check recent deploys, and restart it if it is wedged.',
          '503s with many requests in flight: the service sheds load or its pools are full; add capacity or find what holds requests.',
        ],
      },
    },
  ];
}

function burnExpr(s: Settings, windows: readonly BurnWindow[]): string {
  const budget = `(1 - ${s.slo.target})`;
  return windows
    .map(
      (w) =>
        `(${sloErrorRatioRecord(w.long)} > (${w.factor} * ${budget}) and ${sloErrorRatioRecord(w.short)} > (${w.factor} * ${budget}))`,
    )
    .join(' or ');
}

function windowsText(windows: readonly BurnWindow[]): string {
  return windows.map((w) => `${w.long}/${w.short} at ${w.factor}x`).join(', ');
}

function sloAlerts(s: Settings): Draft[] {
  const look = [
    `${sloErrorRatioRecord('1h')}{pipeline="<name>"}`,
    `sum by (outcome) (increase(${pipelineJobsFinished.name}{pipeline="<name>"}[1d]))`,
  ];
  return [
    {
      group: 'slo',
      alert: 'PipelineErrorBudgetFastBurn',
      expr: burnExpr(s, s.slo.page.windows),
      knobs: s.slo.page,
      summary: 'A pipeline burns its job-success error budget fast.',
      description:
        `Pipeline {{ $labels.pipeline }} job error ratio is {{ $value | humanizePercentage }}, ` +
        `burning the ${pct(s.slo.target)} success SLO's budget fast (${windowsText(s.slo.page.windows)}).`,
      runbook: {
        meaning: `Jobs fail (${s.slo.badOutcomes.join(', ')}) fast enough to spend a large part of the ${pct(s.slo.target)} SLO's 30-day budget within hours; both a long and a short window agree, so it is happening now.`,
        look,
        fix: ['Treat as an outage: see PipelineFailureRateHigh for the stage, and recent deploys of workers or dependencies.'],
      },
    },
    {
      group: 'slo',
      alert: 'PipelineErrorBudgetSlowBurn',
      expr: burnExpr(s, s.slo.ticket.windows),
      knobs: s.slo.ticket,
      summary: 'A pipeline burns its job-success error budget steadily.',
      description:
        `Pipeline {{ $labels.pipeline }} job error ratio is {{ $value | humanizePercentage }}, ` +
        `spending the ${pct(s.slo.target)} success SLO's budget faster than it refills (${windowsText(s.slo.ticket.windows)}).`,
      runbook: {
        meaning: 'A steady, lower failure rate that will exhaust the budget within the SLO period if nothing changes.',
        look,
        fix: ['Not urgent: look at the failures by stage over days and fix the most common cause.'],
      },
    },
  ];
}

/** Alerts on pipemeter itself: every one reads a self-metric that counts data folded, refused or lost. */
function selfAlerts(s: Settings): Draft[] {
  const { seriesOverflow: overflow, ingestRejected: rejected, statsdDropped: dropped } = s.self;
  const events = (outcome?: string) => own(s, ingestEvents.name, outcome === undefined ? {} : { outcome });
  return [
    {
      group: 'self',
      alert: 'PipemeterSeriesOverflow',
      expr: `${sumBy(['job', 'instance', 'metric'], `increase(${own(s, seriesOverflow.name)}[${overflow.window}])`)} > 0`,
      knobs: overflow,
      summary: 'A metric family is past its series cap.',
      description:
        `{{ $labels.metric }} on {{ $labels.instance }} (job {{ $labels.job }}) is at its series cap: ` +
        `{{ $value | humanize }} recordings folded into its __overflow__ series over the last ${overflow.window}.`,
      runbook: {
        meaning:
          'The family reached its series cap (`maxSeries`, default 10 000), so recordings with new label sets go to one ' +
          '`__overflow__` series: totals stay right, but the breakdown by label is lost for them. Usually a label took ' +
          'unbounded values (an id, a URL, a user name).',
        look: [
          `sum by (metric) (increase(${seriesOverflow.name}[1h]))`,
          'count({__name__="<metric>"})',
          'topk(10, count by (<label>) ({__name__="<metric>"}))',
        ],
        fix: [
          'Run `pipemeter check <target>`: it names labels with id-like values and the families with the most series.',
          'Drop or bound the label (a host, not a URL; a status class, not a message). Raise `maxSeries` only for a label that is bounded but large.',
        ],
      },
    },
    {
      group: 'self',
      alert: 'PipemeterIngestRejected',
      expr:
        `${sumBy(['job', 'instance', 'source'], `rate(${events('rejected')}[${rejected.window}])`)} / ` +
        `clamp_min(${sumBy(['job', 'instance', 'source'], `rate(${events()}[${rejected.window}])`)}, ${DENOMINATOR_FLOOR}) > ${rejected.maxRatio}`,
      knobs: rejected,
      summary: 'The sidecar refuses many of the events sent to it.',
      description:
        `{{ $labels.instance }} refused {{ $value | humanizePercentage }} of the events it received (source {{ $labels.source }}) ` +
        `over the last ${rejected.window} (threshold ${pct(rejected.maxRatio)}).`,
      runbook: {
        meaning:
          `More than ${pct(rejected.maxRatio)} of the events a source (\`events\` for POST /v1/events, \`firecrawl\`, \`statsd\`) sent were refused and not recorded: ` +
          'a sender writes events the sidecar cannot apply (an unknown scraper or pipeline, a missing field, a label past its limits).',
        look: [
          `sum by (source, reason) (rate(${ingestRejected.name}{instance="<instance>"}[${rejected.window}]))`,
          `sum by (source, outcome) (rate(${ingestEvents.name}{instance="<instance>"}[${rejected.window}]))`,
        ],
        fix: [
          'The reason label names the fault; the sidecar logs the first refusal of each reason with the field and the fix.',
          'Fix the sender, or declare the scraper, pipeline or family in the sidecar config if it is new.',
        ],
      },
    },
    {
      group: 'self',
      alert: 'PipemeterStatsdDatagramsDropped',
      expr: `${sumBy(['job', 'instance'], `increase(${own(s, statsdDatagramsDropped.name)}[${dropped.window}])`)} > 0`,
      knobs: dropped,
      summary: 'The kernel drops StatsD datagrams before the sidecar reads them.',
      description:
        `{{ $labels.instance }} (job {{ $labels.job }}) lost {{ $value | humanize }} StatsD datagrams ` +
        `to a full socket receive buffer over the last ${dropped.window}.`,
      runbook: {
        meaning:
          'StatsD senders sent faster than the sidecar read: the socket receive buffer filled and the kernel dropped whole ' +
          'datagrams. Their lines were never seen, so counters read low.',
        look: [
          `rate(${statsdDatagramsDropped.name}[5m])`,
          `rate(${ingestEvents.name}{source="statsd"}[5m])`,
          'rate(process_cpu_seconds_total{job="<job>"}[5m])',
        ],
        fix: [
          'A sidecar at one full core cannot read faster: run one sidecar per host (or per busy service) instead of one for many.',
          'For bursts, raise the kernel cap on the receive buffer (`sysctl net.core.rmem_max=8388608`; the sidecar asks for 8 MiB).',
          'Sample high-rate timers on the client (`|@0.1`), which the sidecar scales back up.',
        ],
      },
    },
  ];
}

/** alertDefs returns every alert with its runbook, in a stable order. */
export function alertDefs(s: Settings): AlertDef[] {
  return [...scraperAlerts(s), ...targetAlerts(s), ...pipelineAlerts(s), ...httpAlerts(s), ...sloAlerts(s), ...selfAlerts(s)].map((d) => build(s, d));
}

/** alertRuleGroups groups the alerts as they are written to the rules file. */
export function alertRuleGroups(s: Settings): RuleGroup<AlertingRule>[] {
  const defs = alertDefs(s);
  return ALERT_GROUPS.map((g) => ({ name: `pipemeter-${g}-alerts`, rules: defs.filter((d) => d.group === g).map((d) => d.rule) }));
}
