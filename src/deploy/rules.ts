/** Recording rules: quantiles of every histogram, throughput of every counter, guarded ratios and the SLO error ratios. */
import {
  type FamilyDef,
  catalog,
  httpServerRequestDuration,
  pipelineJobsFinished,
  pipelineStageDuration,
  scraperItemsCreated,
  scraperRuns,
  scraperSchemaErrors,
} from '../catalog/index.js';
import { baseName, histogramObservations, histogramQuantile, level, oneOf, own, ownMatchers, ownerLabel, quantileLabels, quantileTag, ratio, selector, sumBy } from './promql.js';
import { parseDuration } from '../shared/units.js';
import type { Duration, Settings } from './settings.js';

export interface RecordingRule {
  record: string;
  expr: string;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for: Duration;
  labels: { severity: string };
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup<R> {
  name: string;
  rules: R[];
}

/** quantileRecord names the recorded quantile of a histogram, e.g. `pipeline:pipeline_stage_duration_seconds:p95_5m`. */
export function quantileRecord(f: FamilyDef, q: number, window: string): string {
  return `${level(f)}:${f.name}:${quantileTag(q)}_${window}`;
}

/** rateRecord names a counter's recorded per-second rate, e.g. `scraper:scraper_items_created:rate5m`. */
export function rateRecord(f: FamilyDef, window: string): string {
  return `${level(f)}:${baseName(f)}:rate${window}`;
}

/** increaseRecord names a counter's recorded increase over a window (`1h`, `1d`: throughput per hour and per day). */
export function increaseRecord(f: FamilyDef, window: string): string {
  return `${level(f)}:${baseName(f)}:increase${window}`;
}

/** sloErrorRatioRecord names the job error ratio over a window, read by the burn-rate alerts. */
export function sloErrorRatioRecord(window: string): string {
  return `${level(pipelineJobsFinished)}:${baseName(pipelineJobsFinished)}:error_ratio_rate${window}`;
}

/** Windows of the throughput records beside the rate window: per hour and per day, as the users report throughput. */
const THROUGHPUT_WINDOWS = ['1h', '1d'] as const;

/** throughputLabels keeps the owner and the closed-value labels: both bounded, and what the dashboards split by. */
function throughputLabels(f: FamilyDef): string[] {
  const closed = Object.keys(f.values ?? {});
  const owner = ownerLabel(f);
  return [...(owner === undefined ? [] : [owner]), ...f.labels.filter((l) => closed.includes(l) && l !== owner)];
}

/** httpRequestsRecord names the request rate of HTTP servers, by job, method, route and status code. */
export function httpRequestsRecord(window: string): string {
  return `${level(httpServerRequestDuration)}:http_server_requests:rate${window}`;
}

/** httpErrorRatioRecord names the share of requests answered with a 5xx status, by job and route. */
export function httpErrorRatioRecord(window: string): string {
  return `${level(httpServerRequestDuration)}:http_server_requests:error_ratio_rate${window}`;
}

/** The HTTP requests a server answered: the observation count of its request-duration histogram. */
export const HTTP_REQUESTS = `${httpServerRequestDuration.name}_count`;

/** httpRequestRates are an HTTP server's requests per second, all and those answered 5xx, summed by the given labels. */
export function httpRequestRates(by: readonly string[], window: string, matchers: Readonly<Record<string, string>> = {}): { all: string; errors: string } {
  return {
    all: sumBy(by, `rate(${selector(HTTP_REQUESTS, matchers)}[${window}])`),
    errors: sumBy(by, `rate(${selector(HTTP_REQUESTS, { ...matchers, status_code: '~5..' })}[${window}])`),
  };
}

/**
 * httpErrorRatio is the share of an HTTP server's requests answered 5xx, by the given labels. A route's 5xx series
 * appears only with its first server error, so the numerator falls back to 0 where the route has requests and no
 * error yet: 0, not no data.
 */
export function httpErrorRatio(by: readonly string[], window: string, matchers: Readonly<Record<string, string>> = {}): string {
  const { all, errors } = httpRequestRates(by, window, matchers);
  return ratio(`(${errors} or ${all} * 0)`, all);
}

/** An HTTP server's requests are told apart by its job: two services may both have a route `/items/:id`. */
export const HTTP_QUANTILE_LABELS = ['job', 'method', 'route'] as const;

function quantileRules(s: Settings): RecordingRule[] {
  return catalog
    // HTTP quantiles keep the job (httpRules); the other domains' owner labels (scraper, pipeline) name the worker.
    .filter((f) => f.type === 'histogram' && f.domain !== 'http')
    .flatMap((f) =>
      s.quantiles.map((q) => ({ record: quantileRecord(f, q, s.rateWindow), expr: histogramQuantile(f, q, s.rateWindow, quantileLabels(f), ownMatchers(s)) })),
    );
}

/** Domains whose counters are work throughput; the sidecar's own counters are diagnostics, read raw when needed. */
const THROUGHPUT_DOMAINS: readonly FamilyDef['domain'][] = ['scraper', 'pipeline'];

function throughputRules(s: Settings): RecordingRule[] {
  return catalog
    .filter((f) => f.type === 'counter' && THROUGHPUT_DOMAINS.includes(f.domain) && ownerLabel(f) !== undefined)
    .flatMap((f) => {
      const by = throughputLabels(f);
      return [
        { record: rateRecord(f, s.rateWindow), expr: sumBy(by, `rate(${own(s, f.name)}[${s.rateWindow}])`) },
        ...THROUGHPUT_WINDOWS.map((w) => ({ record: increaseRecord(f, w), expr: sumBy(by, `increase(${own(s, f.name)}[${w}])`) })),
      ];
    });
}

/** outcomeRatio is the share of a family's events with a bad outcome, by the given labels. */
function outcomeRatio(s: Settings, name: string, by: readonly string[], bad: readonly string[], counted: readonly string[] | undefined, w: string) {
  const den = counted === undefined ? own(s, name) : own(s, name, { outcome: oneOf(counted) });
  return ratio(sumBy(by, `rate(${own(s, name, { outcome: oneOf(bad) })}[${w}])`), sumBy(by, `rate(${den}[${w}])`));
}

function ratioRules(s: Settings): RecordingRule[] {
  const w = s.rateWindow;
  return [
    {
      record: `scraper:${baseName(scraperRuns)}:failure_ratio_rate${w}`,
      expr: outcomeRatio(s, scraperRuns.name, ['scraper'], ['failure'], undefined, w),
    },
    {
      record: `scraper:${baseName(scraperSchemaErrors)}:per_item_ratio_rate${w}`,
      expr: ratio(
        sumBy(['scraper'], `rate(${own(s, scraperSchemaErrors.name)}[${w}])`),
        sumBy(['scraper'], `rate(${own(s, scraperItemsCreated.name)}[${w}])`),
      ),
    },
    {
      record: `pipeline:${pipelineStageDuration.name}:failure_ratio_rate${w}`,
      expr: ratio(
        histogramObservations(pipelineStageDuration, 'count', 'rate', w, ['pipeline', 'stage'], { ...ownMatchers(s), outcome: oneOf(['failure']) }),
        histogramObservations(pipelineStageDuration, 'count', 'rate', w, ['pipeline', 'stage'], ownMatchers(s)),
      ),
    },
  ];
}

/** httpRules record an HTTP server's RED signals: request rate, server-error ratio, duration quantiles. */
function httpRules(s: Settings): RecordingRule[] {
  const f = httpServerRequestDuration;
  const w = s.rateWindow;
  // OpenTelemetry's name: other services' instrumentation writes it too, so these read pipemeter's jobs only.
  const count = own(s, HTTP_REQUESTS);
  return [
    { record: httpRequestsRecord(w), expr: sumBy(['job', 'method', 'route', 'status_code'], `rate(${count}[${w}])`) },
    { record: httpErrorRatioRecord(w), expr: httpErrorRatio(['job', 'route'], w, ownMatchers(s)) },
    ...s.quantiles.map((q) => ({ record: quantileRecord(f, q, w), expr: histogramQuantile(f, q, w, HTTP_QUANTILE_LABELS, ownMatchers(s)) })),
  ];
}

/** sloWindows are every window any burn-rate pair reads, in a stable order. */
export function sloWindows(s: Settings): Duration[] {
  const all = [...s.slo.page.windows, ...s.slo.ticket.windows].flatMap((b) => [b.short, b.long]);
  return [...new Set(all)].sort((a, b) => parseDuration(a)! - parseDuration(b)!);
}

function sloRules(s: Settings): RecordingRule[] {
  return sloWindows(s).map((w) => ({
    record: sloErrorRatioRecord(w),
    expr: outcomeRatio(s, pipelineJobsFinished.name, ['pipeline'], s.slo.badOutcomes, s.slo.countedOutcomes, w),
  }));
}

/** recordingRuleGroups returns every recording rule, grouped by what it records. */
export function recordingRuleGroups(s: Settings): RuleGroup<RecordingRule>[] {
  return [
    { name: 'pipemeter-quantiles', rules: quantileRules(s) },
    { name: 'pipemeter-throughput', rules: throughputRules(s) },
    { name: 'pipemeter-ratios', rules: ratioRules(s) },
    { name: 'pipemeter-http', rules: httpRules(s) },
    { name: 'pipemeter-slo', rules: sloRules(s) },
  ];
}
