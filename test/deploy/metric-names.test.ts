/** Every metric a rule or dashboard panel reads exists: in the catalog, as a histogram's series, as a recording rule, or built in. */
import { describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { alertDefs } from '../../src/deploy/alerts.js';
import { dashboards } from '../../src/deploy/grafana.js';
import { recordingRuleGroups } from '../../src/deploy/rules.js';
import { defaults } from '../../src/deploy/settings.js';
import { metricNames } from './helpers.js';

/** Series Prometheus makes itself. */
const BUILTIN = new Set(['up', 'ALERTS']);

const recorded = new Set(recordingRuleGroups(defaults).flatMap((g) => g.rules.map((r) => r.record)));
const histograms = new Set(catalog.filter((f) => f.type === 'histogram').map((f) => f.name));
const families = new Set(catalog.map((f) => f.name));

function known(name: string): boolean {
  if (families.has(name) || recorded.has(name) || BUILTIN.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && histograms.has(m[1] ?? '');
}

const ruleExprs: [string, string][] = [
  ...recordingRuleGroups(defaults).flatMap((g) => g.rules.map((r): [string, string] => [`record ${r.record}`, r.expr])),
  ...alertDefs(defaults).map((d): [string, string] => [`alert ${d.rule.alert}`, d.rule.expr]),
];
const panelExprs: [string, string][] = dashboards(defaults).flatMap(({ dashboard }) => [
  ...((dashboard.panels ?? []) as { title?: string; targets?: { expr: string }[] }[]).flatMap((p) =>
    (p.targets ?? []).map((t): [string, string] => [`${dashboard.uid} / ${p.title}`, t.expr]),
  ),
  ...(dashboard.templating.list ?? [])
    .filter((v) => v.type === 'query')
    .map((v): [string, string] => [`${dashboard.uid} / $${v.name}`, String(v.query).replace(/^label_values\((.*), \w+\)$/, '$1')]),
]);

describe('metric names', () => {
  it('the extractor finds names and skips functions, labels, strings and durations', () => {
    expect(
      metricNames('histogram_quantile(0.95, sum by (le, stage) (rate(a_bucket{job=~"$job",x="y z"}[5m]))) > 1e-9 and on (p) b offset 6h or label_replace(c, "d", "e", "", "")').sort(),
    ).toEqual(['a_bucket', 'b', 'c']);
  });

  it.each([...ruleExprs, ...panelExprs])('%s reads only known metrics', (_where, expr) => {
    const names = metricNames(expr);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !known(n))).toEqual([]);
  });

  it('every recording rule reads a catalog family (not another recording rule)', () => {
    for (const g of recordingRuleGroups(defaults)) {
      for (const r of g.rules) expect(metricNames(r.expr).every((n) => !recorded.has(n)), r.record).toBe(true);
    }
  });
});
