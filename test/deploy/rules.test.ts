/** The rule files against the catalog and conventions: quantiles for every histogram, alert shape, firing and quiet tests per alert. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { defaults } from '../../src/deploy/settings.js';
import { readYaml, repoRoot } from './helpers.js';

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = readdirSync(join(repoRoot, 'deploy/prometheus/rules')).flatMap(
  (f) => readYaml<{ groups: { rules: Rule[] }[] }>(`deploy/prometheus/rules/${f}`).groups.flatMap((g) => g.rules),
);
const alerts = rules.filter((r) => r.alert !== undefined);
const records = rules.filter((r) => r.record !== undefined);

interface TestGroup {
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
  promql_expr_test?: { expr: string; exp_samples: { labels: string }[] }[];
}
const testGroups: TestGroup[] = readdirSync(join(repoRoot, 'deploy/prometheus/tests')).filter((f) => f.endsWith('.yaml')).flatMap(
  (f) => readYaml<{ tests: TestGroup[] }>(`deploy/prometheus/tests/${f}`).tests,
);
const alertTests = testGroups.flatMap((g) => g.alert_rule_test ?? []);

describe('recording rules', () => {
  const histograms = catalog.filter((f) => f.type === 'histogram');
  const quantiles = [
    ['p50', '0.5'],
    ['p95', '0.95'],
    ['p99', '0.99'],
  ];
  it.each(histograms.flatMap((f) => quantiles.map(([tag, q]) => [f.name, tag, q])))('%s has a %s recording rule', (name, tag, q) => {
    const r = records.find((x) => x.record?.endsWith(`:${name}:${tag}_5m`));
    // The native histogram where Prometheus ingests it, else the classic buckets.
    expect(r?.expr).toMatch(new RegExp(`^\\(histogram_quantile\\(${q}, sum by \\([a-z, ]+\\) \\(rate\\(${name}(\\{[^}]*\\})?\\[5m\\]\\)\\)\\) or histogram_quantile\\(${q}, sum by \\(le, `));
    expect(r?.expr).toContain(`(rate(${name}_bucket{job=~"pipemeter|pipemeter-workers"}[5m]))`);
    // Bounded labels only; outcome would split one distribution into several.
    expect(r?.expr).not.toMatch(/by \([^)]*outcome/);
  });

  it('names follow level:metric:operations', () => {
    expect(records.filter((r) => !/^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/.test(r.record ?? ''))).toEqual([]);
  });

  it('every ratio guards its denominator', () => {
    const ratios = records.filter((r) => /:[a-z_]*ratio_rate\w+$/.test(r.record ?? ''));
    expect(ratios.length).toBeGreaterThan(0);
    expect(ratios.filter((r) => !r.expr.includes('clamp_min('))).toEqual([]);
  });

  it('has at least one promtool expression test per group of recorded kinds (quantile, throughput, ratio)', () => {
    const tested = testGroups
      .flatMap((g) => g.promql_expr_test ?? [])
      .flatMap((t) => t.exp_samples.map((x) => x.labels))
      .join('\n');
    for (const kind of [':p95_5m{', ':increase1d{', ':error_ratio_rate5m{']) expect(tested).toContain(kind);
  });
});

describe('alerts', () => {
  const names = [
    'ScraperNoItemsCreated',
    'ScraperHighSchemaErrorRate',
    'ScraperItemRateDrop',
    'ScraperNoRecentSuccess',
    'TargetDown',
    'TargetAbsent',
    'ProbeFailing',
    'PipelineStageLatencyHigh',
    'PipelineFailureRateHigh',
    'PipelineQueueBacklog',
    'PipelineJobsStuck',
    'PipelineHighRealtimeFactor',
  ];
  it.each(names)('%s exists', (name) => expect(alerts.map((a) => a.alert)).toContain(name));

  it('the SLO has a page (critical) and a ticket (warning) burn-rate alert over the SRE workbook windows', () => {
    const slo = alerts.filter((a) => a.expr.includes('error_ratio_rate'));
    expect(slo.map((a) => a.labels?.severity).sort()).toEqual(['critical', 'warning']);
    const page = slo.find((a) => a.labels?.severity === 'critical')?.expr ?? '';
    const ticket = slo.find((a) => a.labels?.severity === 'warning')?.expr ?? '';
    for (const w of ['1h', '5m', '6h', '30m']) expect(page).toContain(`error_ratio_rate${w} >`);
    for (const w of ['1d', '2h', '3d', '6h']) expect(ticket).toContain(`error_ratio_rate${w} >`);
    expect(page).toContain('14.4 * (1 - 0.99)');
    expect(ticket).toContain('1 * (1 - 0.99)');
  });

  it.each(alerts.map((a) => [a.alert, a]))('%s follows the conventions', (name, a) => {
    expect(name).toMatch(/^[A-Z][a-zA-Z0-9]+$/);
    expect(['critical', 'warning', 'info']).toContain(a.labels?.severity);
    expect(a.for).toMatch(/^\d+[smhd]$/);
    expect(a.annotations?.summary).toBeTruthy();
    expect(a.annotations?.summary).not.toContain('{{');
    expect(a.annotations?.description).toContain('{{');
    expect(a.annotations?.runbook_url).toBe(`${defaults.runbookBaseUrl}#${String(name).toLowerCase()}`);
  });

  it('no alert is written per scraper or pipeline: no rule selects one by name', () => {
    expect(alerts.filter((a) => /(scraper|pipeline)=~?"/.test(a.expr))).toEqual([]);
  });

  it.each(alerts.map((a) => [a.alert]))('%s has a promtool case that fires and one that stays quiet', (name) => {
    const cases = alertTests.filter((t) => t.alertname === name);
    expect(cases.some((t) => (t.exp_alerts ?? []).length > 0), 'firing case').toBe(true);
    expect(cases.some((t) => (t.exp_alerts ?? []).length === 0), 'quiet case').toBe(true);
  });

  it('every promtool alert case names an alert that exists', () => {
    const known = new Set(alerts.map((a) => a.alert));
    expect(alertTests.map((t) => t.alertname).filter((n) => !known.has(n))).toEqual([]);
  });
});

describe('selectors: every rule reads only pipemeter\'s own series', () => {
  /** Every name a catalog family's series carry, histogram suffixes included. */
  const familyNames = new Set(catalog.flatMap((f) => (f.type === 'histogram' ? [`${f.name}_bucket`, `${f.name}_count`, `${f.name}_sum`] : [f.name])));
  const own = `job=~"${defaults.jobs.sidecar}|${defaults.jobs.workers}"`;

  /** selectors lists each `name{matchers}` in an expression whose name is a catalog family's or `up`. */
  function selectors(expr: string): { name: string; matchers: string }[] {
    const out: { name: string; matchers: string }[] = [];
    for (const m of expr.matchAll(/(?<![A-Za-z0-9_:"])([a-zA-Z_][a-zA-Z0-9_]*)(\{[^}]*\})?/g)) {
      const name = m[1]!;
      if (familyNames.has(name) || name === 'up') out.push({ name, matchers: m[2] ?? '' });
    }
    return out;
  }

  it('the check itself sees selectors: a bare family name and one with matchers', () => {
    expect(selectors('sum(rate(pipeline_jobs_finished_total{outcome="failed"}[5m])) / up')).toEqual([
      { name: 'pipeline_jobs_finished_total', matchers: '{outcome="failed"}' },
      { name: 'up', matchers: '' },
    ]);
  });

  it.each(rules.map((r) => [r.alert ?? r.record, r]))('%s selects every catalog family by pipemeter\'s jobs', (_name, r) => {
    const found = selectors(r.expr);
    const families = found.filter((x) => x.name !== 'up');
    expect(families.filter((x) => !x.matchers.includes(own))).toEqual([]);
    // `up` is every target's: only the jobs the shipped config scrapes.
    expect(found.filter((x) => x.name === 'up' && !/job=~?"/.test(x.matchers))).toEqual([]);
  });

  it('a promtool case feeds foreign series of pipemeter\'s names and expects silence from every alert', () => {
    const foreign = readYaml<{ tests: (TestGroup & { input_series: { series: string }[] })[] }>('deploy/prometheus/tests/foreign-series.yaml').tests;
    const quiet = new Set(foreign.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length === 0).map((a) => a.alertname)));
    expect([...quiet].sort()).toEqual(alerts.map((a) => a.alert!).sort());
    const jobs = new Set(foreign.flatMap((t) => t.input_series.map((i) => /job="([^"]*)"/.exec(i.series)?.[1])));
    for (const j of ['blackbox', 'db-node', 'api']) expect(jobs).toContain(j);
  });
});
