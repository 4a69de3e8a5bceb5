/** Dashboards: every panel's PromQL parses (promtool), units and variables are set, links resolve to runbook anchors. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Dashboard } from '../../src/deploy/grafana.js';
import { dashboardUids } from '../../src/deploy/grafana-ids.js';
import { defaults } from '../../src/deploy/settings.js';
import { describeWithTools } from '../helpers/tools.js';
import { readCommitted, readYaml, runAsync } from './helpers.js';

const files = ['fleet-overview.json', 'scraper-detail.json', 'pipeline-detail.json'];
const boards: Dashboard[] = files.map((f) => JSON.parse(readCommitted(`deploy/grafana/dashboards/${f}`)) as Dashboard);
const panels = boards.flatMap((d) => d.panels.map((p) => ({ board: d.uid, ...p })));
const runbookAnchors = new Set([...readCommitted('docs/runbooks.md').matchAll(/^## (\S+)$/gm)].map((m) => m[1]?.toLowerCase()));

/** Grafana's variables replaced by values that keep the query valid PromQL. */
function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1d')
    .replace(/\$(job|scraper|pipeline)\b/g, '.*');
}

describe('dashboards', () => {
  it('are the fleet overview, scraper detail and pipeline detail, with the uids alerts link to', () => {
    expect(boards.map((b) => b.uid).sort()).toEqual(Object.values(dashboardUids).sort());
  });

  it.each(boards.map((b) => [b.uid, b]))('%s has datasource and job variables, and its owner variable', (uid, b) => {
    const names = b.templating.list.map((v) => v.name);
    expect(names.slice(0, 2)).toEqual(['datasource', 'job']);
    if (uid !== dashboardUids.pipeline) expect(names).toContain('scraper');
    if (uid !== dashboardUids.scraper) expect(names).toContain('pipeline');
  });

  it.each(boards.map((b) => [b.uid, b]))('%s links to firing alerts and the runbooks', (_uid, b) => {
    expect(b.links.some((l) => l.url?.includes('/alerting/list'))).toBe(true);
    expect(b.links.some((l) => l.url === defaults.runbookBaseUrl)).toBe(true);
  });

  it.each(panels.map((p) => [`${p.board} / ${p.title}`, p]))('%s has a unit, a datasource variable and queries', (_name, p) => {
    expect(p.fieldConfig.defaults.unit).toBeTruthy();
    expect(p.datasource.uid).toBe('${datasource}');
    expect(p.targets.length).toBeGreaterThan(0);
    // ALERTS carries the alert's labels, not the scrape job's.
    for (const t of p.targets) if (!t.expr.includes('ALERTS{')) expect(t.expr).toMatch(/\$job/);
  });

  it('every rate() and increase() uses $__rate_interval or a fixed 1h/1d throughput window', () => {
    const windows = panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/(?:rate|increase)\([^[]*\[([^\]]+)\]/g)].map((m) => m[1])));
    expect(windows.length).toBeGreaterThan(0);
    expect(windows.filter((w) => !['$__rate_interval', '1h', '1d'].includes(w ?? ''))).toEqual([]);
  });

  it('panel ids are unique per dashboard and panels fit the 24-column grid', () => {
    for (const b of boards) {
      expect(new Set(b.panels.map((p) => p.id)).size).toBe(b.panels.length);
      for (const p of b.panels) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    }
  });

  it('the pipeline dashboard has p50/p95/p99 per stage, queue wait vs processing, an RTF heatmap, failures by stage, hourly and daily throughput, in progress', () => {
    const p = boards.find((b) => b.uid === dashboardUids.pipeline)?.panels ?? [];
    const titles = p.map((x) => x.title).join('\n');
    for (const q of ['p50', 'p95', 'p99']) expect(titles).toContain(`Stage duration ${q} by stage`);
    expect(titles).toMatch(/Queue wait vs processing/);
    expect(p.find((x) => x.type === 'heatmap')?.targets[0]?.expr).toContain('pipeline_realtime_factor_bucket');
    expect(titles).toMatch(/Failures by stage/);
    expect(titles).toMatch(/per hour/);
    expect(titles).toMatch(/per day/);
    expect(titles).toMatch(/In progress/);
  });

  it('every panel runbook link points at an anchor that exists in docs/runbooks.md', () => {
    const links = panels.flatMap((p) => p.links);
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) {
      expect(l.url.startsWith(`${defaults.runbookBaseUrl}#`)).toBe(true);
      expect(runbookAnchors).toContain(l.url.split('#')[1]);
    }
  });
});

describe('grafana provisioning', () => {
  it('the datasource tells Grafana the scrape interval, so $__rate_interval covers four scrapes', () => {
    const ds = readYaml('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0];
    expect(ds).toMatchObject({ type: 'prometheus', jsonData: { timeInterval: defaults.scrapeInterval } });
  });

  it('the dashboard provider reads the dashboards path', () => {
    const p = readYaml('deploy/grafana/provisioning/dashboards/pipemeter.yml').providers[0];
    expect(p).toMatchObject({ type: 'file', options: { path: defaults.grafana.dashboardsPath } });
  });
});

describeWithTools(['promtool'], 'dashboard PromQL with promtool', () => {
  it('every panel query and variable query parses (checked as recording rules, variables substituted)', async () => {
    const exprs = [
      ...panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...boards.flatMap((b) => b.templating.list.filter((v) => v.type === 'query').map((v) => v.query.replace(/^label_values\((.*), \w+\)$/, '$1'))),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'pipemeter-panels-'));
    try {
      const file = join(dir, 'panels.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'panels', rules: exprs.map((e, i) => ({ record: `panel:query:${i}`, expr: substitute(e) })) }] }));
      const r = await runAsync('promtool', ['check', 'rules', file]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);

      // The same check fails on a query that does not parse.
      writeFileSync(file, stringify({ groups: [{ name: 'panels', rules: [{ record: 'panel:query:0', expr: substitute('sum by (job (up{job=~"$job"})') }] }] }));
      expect((await runAsync('promtool', ['check', 'rules', file])).code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
