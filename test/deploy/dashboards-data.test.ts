/**
 * Every dashboard query and recording-rule expression returns data from a real Prometheus holding two hours of
 * catalog-shaped series (backfilled with promtool): a query that parses but selects nothing fails here, and so does a
 * selector hidden behind `or vector(0)` or a guarded denominator. The glance stats and the scrapers table are also
 * checked for their values, against a scraper whose last success is older than the alert's threshold.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FamilyDef, catalog, scraperLastSuccess } from '../../src/catalog/index.js';
import { dashboards } from '../../src/deploy/grafana.js';
import { dashboardUids } from '../../src/deploy/grafana-ids.js';
import { recordingRuleGroups } from '../../src/deploy/rules.js';
import { defaults } from '../../src/deploy/settings.js';
import { describeWithTools } from '../helpers/tools.js';
import { metricNames, runAsync } from './helpers.js';
import { freePort } from '../helpers/tools.js';

/** Values for open labels; closed labels take every value the catalog lists. */
const OPEN_VALUES: Record<string, string> = {
  scraper: 'spotify',
  pipeline: 'video',
  stage: 'transcription',
  item_type: 'track',
  source: 'open.spotify.com',
  error_type: 'validation',
  method: 'GET',
  route: '/items/:id',
  // A server error, so the 5xx selectors of the HTTP panels select something.
  status_code: '500',
};
const STEP_S = 30;
const STEPS = 240; // two hours at the 30 s scrape interval
/** A scraper whose last success is an hour past the ScraperNoRecentSuccess threshold; the fresh one succeeded a minute ago. */
const STALE = 'stale';
const STALE_AGE_S = defaults.scraper.noRecentSuccess.maxAgeSeconds + 3600;

function labelSets(f: FamilyDef): Record<string, string>[] {
  let sets: Record<string, string>[] = [{ job: 'pipemeter', instance: 'pipemeter:9464' }];
  for (const l of f.labels) {
    const vals = f.values?.[l] ?? [OPEN_VALUES[l] ?? 'x'];
    sets = sets.flatMap((s) => vals.map((v) => ({ ...s, [l]: v })));
  }
  return sets;
}

function fmt(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

/** openMetrics renders STEPS samples of every catalog family (plus `up`), ending at `end` (Unix seconds). */
function openMetrics(end: number): string {
  const lines: string[] = [];
  const times = Array.from({ length: STEPS }, (_, i) => ({ i: i + 1, t: end - (STEPS - 1 - i) * STEP_S }));
  const family = (name: string, type: string, samples: (i: number, t: number) => [string, number][]) => {
    lines.push(`# TYPE ${name} ${type}`);
    for (const { i, t } of times) for (const [series, v] of samples(i, t)) lines.push(`${series} ${v} ${t}`);
  };
  family('up', 'gauge', () => [[`up${fmt({ job: 'pipemeter', instance: 'pipemeter:9464' })}`, 1]]);
  for (const f of catalog) {
    const sets = labelSets(f);
    if (f.type === 'counter') {
      family(f.name.replace(/_total$/, ''), 'counter', (i) => sets.map((l) => [`${f.name}${fmt(l)}`, i * 3]));
    } else if (f.type === 'gauge') {
      const stale = f.name === scraperLastSuccess.name ? [{ ...sets[0], scraper: STALE }] : [];
      family(f.name, 'gauge', (_i, t) => [
        ...sets.map((l): [string, number] => [`${f.name}${fmt(l)}`, f.name.endsWith('_timestamp_seconds') ? t - 60 : 5]),
        ...stale.map((l): [string, number] => [`${f.name}${fmt(l)}`, t - STALE_AGE_S]),
      ]);
    } else {
      const bounds = [...(f.buckets ?? []).map(String), '+Inf'];
      family(f.name, 'histogram', (i) =>
        sets.flatMap((l) => [
          ...bounds.map((le, j): [string, number] => [`${f.name}_bucket${fmt({ ...l, le })}`, i * (j + 1)]),
          [`${f.name}_count${fmt(l)}`, i * bounds.length],
          [`${f.name}_sum${fmt(l)}`, i * 10],
        ]),
      );
    }
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '2m').replace(/\$(job|scraper|pipeline)\b/g, '.*');
}


/** The parts of a generated panel these tests read. */
interface PanelData {
  title?: string;
  type: string;
  targets?: { refId: string; expr: string }[];
  transformations?: { id: string; options: { renameByName?: Record<string, string> } }[];
}

const boards = dashboards(defaults).map((d) => d.dashboard);
const panelsOf = (b: (typeof boards)[number]) => (b.panels ?? []) as PanelData[];
const queries: [string, string][] = [
  ...boards.flatMap((b) =>
    panelsOf(b)
      // ALERTS exists only while an alert fires; no catalog data can make it appear.
      .flatMap((p) => (p.targets ?? []).filter((t) => !t.expr.includes('ALERTS{')).map((t): [string, string] => [`${b.uid} / ${p.title}`, t.expr])),
  ),
  ...boards.flatMap((b) =>
    (b.templating.list ?? [])
      .filter((v) => v.type === 'query')
      .map((v): [string, string] => [`${b.uid} / $${v.name}`, String(v.query).replace(/^label_values\((.*), \w+\)$/, '$1')]),
  ),
  ...recordingRuleGroups(defaults).flatMap((g) => g.rules.map((r): [string, string] => [`record ${r.record}`, r.expr])),
];

/**
 * selectors lists the series selectors of a query (`name{matchers}` or a bare name), so each can be asked on its own:
 * `count(x) or vector(0)` and `a / clamp_min(b, 1e-9)` return data even when `x` or `b` selects nothing.
 */
function selectors(expr: string): string[] {
  return metricNames(expr).flatMap((name) => [...expr.matchAll(new RegExp(`(?<![\\w:])${name}(\\{[^}]*\\})?(?![\\w:(])`, 'g'))].map((m) => m[0]));
}
/**
 * A histogram's native form (its bare family name) exists only in a Prometheus that scrapes protobuf with native
 * histograms on; these classic backfilled series cannot hold it. test/e2e/native-histograms.test.ts runs every such
 * query against a real Prometheus with the feature on, and off.
 */
const nativeForm = new Set(catalog.filter((f) => f.type === 'histogram').map((f) => f.name));
const panelSelectors: [string, string][] = [
  ...new Map(
    boards.flatMap((b) =>
      panelsOf(b).flatMap((p) =>
        (p.targets ?? [])
          .filter((t) => !t.expr.includes('ALERTS{'))
          .flatMap((t) => selectors(t.expr).filter((sel) => !nativeForm.has(sel.replace(/\{.*$/, ''))).map((sel): [string, string] => [sel, `${b.uid} / ${p.title}`])),
      ),
    ),
  ),
].map(([sel, where]) => [where, sel]);

const fleet = boards.find((b) => b.uid === dashboardUids.fleet)!;
const panel = (title: string) => panelsOf(fleet).find((p) => p.title === title)!;

describeWithTools(['promtool', 'prometheus'], 'dashboard and recording-rule queries against a real Prometheus', () => {
  let dir = '';
  const end = Math.floor(Date.now() / 1000) - 60;
  let prom: ChildProcess | undefined;
  let base = '';
  let log = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipemeter-promdata-'));
    writeFileSync(join(dir, 'data.om'), openMetrics(end));
    const blocks = await runAsync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', 'data.om', 'tsdb'], dir);
    if (blocks.code !== 0) throw new Error(`promtool could not backfill: ${blocks.out}`);
    writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 30s\n');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`${base}/-/ready`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`Prometheus not ready in 20s:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 45_000);

  afterAll(() => {
    prom?.kill('SIGKILL');
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  /** query runs an instant query at the end of the data and returns its samples. */
  async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const url = `${base}/api/v1/query?query=${encodeURIComponent(substitute(expr))}&time=${end}`;
    const r = (await (await fetch(url)).json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    expect(r.error, substitute(expr)).toBeUndefined();
    expect(r.status).toBe('success');
    return r.data?.result ?? [];
  }
  const one = async (expr: string) => Number((await query(expr))[0]?.value[1]);

  it('backfilled the data (sanity: a raw family has series)', async () => {
    expect(await one('count(scraper_runs_total)')).toBe(2);
  });

  it.each(queries)('%s returns data', async (_where, expr) => {
    expect((await query(expr)).length, substitute(expr)).toBeGreaterThan(0);
  });

  it('the selector check finds the selectors of a query, and fails one that selects nothing', async () => {
    expect(selectors('count(a{x="1"} > 2 or b) or vector(0)')).toEqual(['a{x="1"}', 'b']);
    expect(selectors('sum by (scraper) (rate(scraper_runs_total{job=~"$job"}[1h])) / clamp_min(up, 1e-9)')).toEqual(['scraper_runs_total{job=~"$job"}', 'up']);
    expect(await query('count(no_such_family{job=~"$job"}) or vector(0)')).toHaveLength(1);
    expect(await query('no_such_family{job=~"$job"}')).toHaveLength(0);
  });

  it.each(panelSelectors)('%s: %s selects series', async (_where, sel) => {
    expect((await query(sel)).length, sel).toBeGreaterThan(0);
  });

  it('the glance stats: targets up 1 and down 0, one scraper with no recent success (the stale one), the error budget of the data', async () => {
    const [up, down] = panel('Targets up').targets!;
    expect(await one(up!.expr)).toBe(1);
    expect(await one(down!.expr)).toBe(0);
    expect(await one(panel('Scrapers with no recent success').targets![0]!.expr)).toBe(1);
    expect(await one(panel('Jobs in flight').targets![0]!.expr)).toBe(5);
    // Every outcome's counter grows alike, so failed and abandoned are 2 of the 3 counted outcomes.
    const budget = await query(panel('Error budget left').targets![0]!.expr);
    expect(budget.map((r) => r.metric.pipeline)).toEqual(['video']);
    expect(Number(budget[0]!.value[1])).toBeCloseTo(1 - 2 / 3 / (1 - defaults.slo.target), 6);
  });

  it('the scrapers table: one row per scraper, the stale one past the last-success threshold, the fresh one under it', async () => {
    const table = panel('Scrapers');
    const names = table.transformations!.find((t) => t.id === 'organize')!.options.renameByName!;
    const column = (prefix: string) => table.targets!.find((t) => names[`Value #${t.refId}`]!.startsWith(prefix))!.expr;
    const age = new Map((await query(column('Last success'))).map((r) => [r.metric.scraper, Number(r.value[1])]));
    expect([...age.keys()].sort()).toEqual(['spotify', STALE]);
    expect(age.get(STALE)).toBeGreaterThan(defaults.scraper.noRecentSuccess.maxAgeSeconds);
    expect(age.get('spotify')).toBeLessThan(defaults.scraper.noRecentSuccess.maxAgeSeconds);
    // Every column's query keeps the scraper label alone, so Grafana's merge joins them into one row per scraper.
    for (const t of table.targets!) for (const r of await query(t.expr)) expect(Object.keys(r.metric)).toEqual(['scraper']);
    // Items and schema errors both grow by 3 every 30 s: 6 items a minute, one schema error per item.
    expect(await one(column('Schema errors per item'))).toBeCloseTo(1, 3);
    expect(await one(column('Items/min'))).toBeCloseTo(6, 3);
  });
});
