/** Recording rules: quantiles of every histogram, throughput of every counter, guarded ratios and the SLO error ratios. */
import {
  type FamilyDef,
  catalog,
  pipelineJobsFinished,
  pipelineStageDuration,
  scraperItemsCreated,
  scraperRuns,
  scraperSchemaErrors,
} from '../catalog/index.js';
import { baseName, histogramObservations, histogramQuantile, level, oneOf, ownerLabel, quantileTag, ratio, selector, sumBy } from './promql.js';
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

function quantileRules(s: Settings): RecordingRule[] {
  return catalog
    .filter((f) => f.type === 'histogram')
    .flatMap((f) =>
      s.quantiles.map((q) => ({ record: quantileRecord(f, q, s.rateWindow), expr: histogramQuantile(f, q, s.rateWindow) })),
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
        { record: rateRecord(f, s.rateWindow), expr: sumBy(by, `rate(${f.name}[${s.rateWindow}])`) },
        ...THROUGHPUT_WINDOWS.map((w) => ({ record: increaseRecord(f, w), expr: sumBy(by, `increase(${f.name}[${w}])`) })),
      ];
    });
}

/** outcomeRatio is the share of a family's events with a bad outcome, by the given labels. */
function outcomeRatio(name: string, by: readonly string[], bad: readonly string[], counted: readonly string[] | undefined, w: string) {
  const den = counted === undefined ? selector(name) : selector(name, { outcome: oneOf(counted) });
  return ratio(sumBy(by, `rate(${selector(name, { outcome: oneOf(bad) })}[${w}])`), sumBy(by, `rate(${den}[${w}])`));
}

function ratioRules(s: Settings): RecordingRule[] {
  const w = s.rateWindow;
  return [
    {
      record: `scraper:${baseName(scraperRuns)}:failure_ratio_rate${w}`,
      expr: outcomeRatio(scraperRuns.name, ['scraper'], ['failure'], undefined, w),
    },
    {
      record: `scraper:${baseName(scraperSchemaErrors)}:per_item_ratio_rate${w}`,
      expr: ratio(
        sumBy(['scraper'], `rate(${scraperSchemaErrors.name}[${w}])`),
        sumBy(['scraper'], `rate(${scraperItemsCreated.name}[${w}])`),
      ),
    },
    {
      record: `pipeline:${pipelineStageDuration.name}:failure_ratio_rate${w}`,
      expr: ratio(
        histogramObservations(pipelineStageDuration, 'count', 'rate', w, ['pipeline', 'stage'], { outcome: oneOf(['failure']) }),
        histogramObservations(pipelineStageDuration, 'count', 'rate', w, ['pipeline', 'stage']),
      ),
    },
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
    expr: outcomeRatio(pipelineJobsFinished.name, ['pipeline'], s.slo.badOutcomes, s.slo.countedOutcomes, w),
  }));
}

/** recordingRuleGroups returns every recording rule, grouped by what it records. */
export function recordingRuleGroups(s: Settings): RuleGroup<RecordingRule>[] {
  return [
    { name: 'pipemeter-quantiles', rules: quantileRules(s) },
    { name: 'pipemeter-throughput', rules: throughputRules(s) },
    { name: 'pipemeter-ratios', rules: ratioRules(s) },
    { name: 'pipemeter-slo', rules: sloRules(s) },
  ];
}
