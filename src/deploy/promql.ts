/** PromQL building blocks shared by the rule, alert and dashboard generators, so every query is spelled one way. */
import type { FamilyDef } from '../catalog/index.js';
import type { Settings } from './settings.js';

/**
 * Guard for ratio denominators: with no traffic `x / 0` is NaN or +Inf, which either hides a real
 * problem or pages on nothing; clamping the denominator gives 0 for 0/0 and a large ratio for n/0.
 */
export const DENOMINATOR_FLOOR = '1e-9';

/** selector renders `name{k="v",...}`; a value starting with `~` becomes a regex match. */
export function selector(name: string, matchers: Readonly<Record<string, string>> = {}): string {
  const parts = Object.entries(matchers).map(([k, v]) => (v.startsWith('~') ? `${k}=~"${v.slice(1)}"` : `${k}="${v}"`));
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

/** oneOf renders a regex matcher value for a closed set of label values. */
export function oneOf(values: readonly string[]): string {
  return `~${values.join('|')}`;
}

/** regexValue escapes a literal for a regex matcher inside a PromQL string (`a.b` → `a\\.b`). */
function regexValue(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&');
}

/** jobsMatcher renders a regex matcher value that matches exactly the given job names. */
export function jobsMatcher(jobs: readonly string[]): string {
  return oneOf([...new Set(jobs)].map(regexValue));
}

/**
 * ownMatchers select pipemeter's own series: the scrape jobs of the sidecar and the workers (`settings.jobs`).
 * Other exporters write some of the same names (blackbox_exporter's `probe_success`), so every shipped rule and
 * alert reads a catalog family through these, as the monitoring mixins read theirs through a job selector.
 */
export function ownMatchers(s: Pick<Settings, 'jobs'>): Record<string, string> {
  return { job: jobsMatcher([s.jobs.sidecar, s.jobs.workers]) };
}

/** own renders a selector of one of pipemeter's own families (see ownMatchers), with any further matchers. */
export function own(s: Pick<Settings, 'jobs'>, name: string, matchers: Readonly<Record<string, string>> = {}): string {
  return selector(name, { ...ownMatchers(s), ...matchers });
}

/** targetJobs are the jobs whose targets the shipped config scrapes and TargetDown watches: pipemeter's and node_exporter. */
export function targetJobs(s: Pick<Settings, 'jobs'>): readonly string[] {
  return [s.jobs.sidecar, s.jobs.workers, s.jobs.nodeExporter];
}

export function sumBy(labels: readonly string[], inner: string): string {
  return `sum by (${labels.join(', ')}) (${inner})`;
}

/** ratio divides with the denominator guarded (see DENOMINATOR_FLOOR). */
export function ratio(numerator: string, denominator: string): string {
  return `${numerator} / clamp_min(${denominator}, ${DENOMINATOR_FLOOR})`;
}

/** ownerLabel is the bounded label a family is aggregated by first (`scraper`, `pipeline`), if it has one. */
export function ownerLabel(f: FamilyDef): string | undefined {
  return f.labels.find((l) => l === 'scraper' || l === 'pipeline');
}

/** quantileLabels are a histogram's labels kept in its quantiles: all but `outcome`, which would split the distribution. */
export function quantileLabels(f: FamilyDef): readonly string[] {
  return f.labels.filter((l) => l !== 'outcome');
}

/*
 * Every histogram query reads both forms a Prometheus server may hold: the classic `_bucket`/`_count`/`_sum` series
 * (text and OpenMetrics scrapes, or a server without native histograms) and the native histogram under the family's
 * own name (a protobuf scrape with `--enable-feature=native-histograms`, where Prometheus 2.42 keeps the native form
 * only). `A or B` keeps B only where A has no series of the same labels, so each query answers from whichever form
 * exists; where one label set has both (a fleet mid-way through turning the feature on), the native one answers,
 * fresh from its first two scrapes while the classic series age out of the window.
 */

/** histogramQuantile renders `(histogram_quantile(q, sum by (...) (rate(x{...}[w]))) or histogram_quantile(q, sum by (le, ...) (rate(x_bucket{...}[w]))))`. */
export function histogramQuantile(
  f: FamilyDef,
  q: number,
  window: string,
  by: readonly string[] = quantileLabels(f),
  matchers: Readonly<Record<string, string>> = {},
): string {
  const native = `histogram_quantile(${q}, ${sumBy(by, `rate(${selector(f.name, matchers)}[${window}])`)})`;
  const classic = `histogram_quantile(${q}, ${sumBy(['le', ...by], `rate(${selector(`${f.name}_bucket`, matchers)}[${window}])`)})`;
  return `(${native} or ${classic})`;
}

/**
 * histogramObservations renders the rate (or increase) of a histogram's observation count or sum, by labels:
 * `(sum by (...) (histogram_count(rate(x{...}[w]))) or sum by (...) (rate(x_count{...}[w])))`.
 */
export function histogramObservations(
  f: FamilyDef,
  what: 'count' | 'sum',
  over: 'rate' | 'increase',
  window: string,
  by: readonly string[],
  matchers: Readonly<Record<string, string>> = {},
): string {
  const native = sumBy(by, `histogram_${what}(${over}(${selector(f.name, matchers)}[${window}]))`);
  const classic = sumBy(by, `${over}(${selector(`${f.name}_${what}`, matchers)}[${window}])`);
  return `(${native} or ${classic})`;
}

/** histogramIncrease renders a histogram's buckets increased over a window (a heatmap): the native histogram, or the classic buckets by `le`. */
export function histogramIncrease(f: FamilyDef, window: string, matchers: Readonly<Record<string, string>> = {}): string {
  return `(sum(increase(${selector(f.name, matchers)}[${window}])) or ${sumBy(['le'], `increase(${selector(`${f.name}_bucket`, matchers)}[${window}])`)})`;
}

/** baseName drops `_total` from a counter's name, as recording-rule names do. */
export function baseName(f: FamilyDef): string {
  return f.name.replace(/_total$/, '');
}

/** level is the first part of a recording-rule name: the family's domain, the level it is aggregated to. */
export function level(f: FamilyDef): string {
  return f.domain;
}

/** quantileTag renders 0.95 as `p95` and 0.999 as `p999`. */
export function quantileTag(q: number): string {
  return `p${String(q).replace(/^0\./, '').padEnd(2, '0')}`;
}
