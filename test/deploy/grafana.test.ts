/**
 * Dashboards: every panel's PromQL parses (promtool), the layout and links hold, the thresholds are the alerts' own,
 * exemplars are asked for where job ids exist, and every datasource reference resolves both when Grafana provisions
 * the files and when a person imports them through the UI (`__inputs`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { alertDefs } from '../../src/deploy/alerts.js';
import { parse, stringify } from 'yaml';
import { DATASOURCE_INPUT, DATASOURCE_NAME, DATASOURCE_UID, GRAFANA_VERSION, grafanaFiles } from '../../src/deploy/grafana.js';
import { dashboardUids } from '../../src/deploy/grafana-ids.js';
import { generateAll } from '../../src/deploy/index.js';
import { type Settings, defaults } from '../../src/deploy/settings.js';
import { describeWithTools } from '../helpers/tools.js';
import { readCommitted, readYaml, repoRoot, runAsync } from './helpers.js';

/** The parts of Grafana's dashboard JSON these tests read. */
interface Ref {
  type?: string;
  uid?: string;
}
interface Target {
  refId: string;
  expr: string;
  datasource?: Ref;
  exemplar?: boolean;
  format?: string;
  instant?: boolean;
}
interface Override {
  matcher: { id: string; options: string };
  properties: { id: string; value?: any }[];
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: Ref;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Target[];
  fieldConfig: { defaults: { unit?: string; thresholds?: { steps: { value: number | null; color: string }[] } }; overrides: Override[] };
  links?: { title: string; url: string }[];
  transformations?: { id: string; options: any }[];
}
interface Variable {
  name: string;
  type: string;
  query?: string;
  allValue?: string;
  datasource?: Ref;
  current?: { text: string | string[]; value: string | string[] };
}
interface Board {
  __inputs?: { name: string; type: string; pluginId: string }[];
  __requires?: { type: string; id: string; version: string }[];
  uid: string;
  links: { title: string; type: string; url?: string }[];
  templating: { list: Variable[] };
  panels: Panel[];
}

const files = ['fleet-overview.json', 'scraper-detail.json', 'pipeline-detail.json'];
const boards: Board[] = files.map((f) => JSON.parse(readCommitted(`deploy/grafana/dashboards/${f}`)) as Board);
/** Row headers are layout, not panels: they have no query, unit or datasource. */
const notRow = (p: Panel) => p.type !== 'row';
const panels = boards.flatMap((d) => d.panels.filter(notRow).map((p) => ({ board: d.uid, ...p })));
const runbookAnchors = new Set([...readCommitted('docs/runbooks.md').matchAll(/^## (\S+)$/gm)].map((m) => m[1]?.toLowerCase()));
const board = (uid: string) => boards.find((b) => b.uid === uid)!;

/** boardsFor generates the dashboards for other settings, as `pipemeter generate --settings` would. */
function boardsFor(s: Settings): Board[] {
  return generateAll(s)
    .filter((f) => f.path.startsWith('deploy/grafana/dashboards/'))
    .map((f) => JSON.parse(f.content) as Board);
}

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

  it.each(boards.map((b) => [b.uid, b]))("%s reads only the shipped jobs: the job variable lists them, and All means exactly them", (_uid, b) => {
    const job = b.templating.list.find((v) => v.name === 'job')!;
    const jobs = `${defaults.jobs.sidecar}|${defaults.jobs.workers}|${defaults.jobs.nodeExporter}`;
    expect(job.query).toBe(`label_values(up{job=~"${jobs}"}, job)`);
    expect(job.allValue).toBe(jobs);
  });

  it('every panel selects catalog families and up by $job, and the firing-alerts panel only pipemeter\'s alerts', () => {
    const names = new Set(catalog.flatMap((f) => (f.type === 'histogram' ? [`${f.name}_bucket`, `${f.name}_count`, `${f.name}_sum`] : [f.name])).concat('up'));
    const unselected: string[] = [];
    for (const p of panels) {
      for (const t of p.targets) {
        for (const m of t.expr.matchAll(/(?<![A-Za-z0-9_:"])([a-zA-Z_][a-zA-Z0-9_]*)(\{[^}]*\})?/g)) {
          if (names.has(m[1]!) && !(m[2] ?? '').includes('job=~"$job"')) unselected.push(`${p.board} / ${p.title}: ${m[0]}`);
        }
      }
    }
    expect(unselected).toEqual([]);
    const alerts = panels.flatMap((p) => p.targets.map((t) => t.expr)).filter((e) => e.includes('ALERTS'));
    expect(alerts).toEqual([`sum by (alertname, severity) (ALERTS{alertstate="firing",alertname=~"${alertDefs(defaults).map((d) => d.rule.alert).join('|')}"})`]);
  });

  it.each(boards.map((b) => [b.uid, b]))('%s links to firing alerts, Alertmanager and the runbooks', (_uid, b) => {
    expect(b.links.some((l) => l.url?.includes('/alerting/list'))).toBe(true);
    expect(b.links.find((l) => l.title === 'Alertmanager')?.url).toBe(`${defaults.alertmanager.url}/#/alerts`);
    expect(b.links.some((l) => l.url === defaults.runbookBaseUrl)).toBe(true);
  });

  it('the Alertmanager link follows alertmanager.url (a trailing slash dropped)', () => {
    const other = boardsFor({ ...defaults, alertmanager: { ...defaults.alertmanager, url: 'https://am.example.com/' } });
    for (const b of other) expect(b.links.find((l) => l.title === 'Alertmanager')?.url).toBe('https://am.example.com/#/alerts');
  });

  it.each(panels.map((p) => [`${p.board} / ${p.title}`, p]))('%s has a unit or per-column units, the datasource variable and queries', (_name, p) => {
    if (p.type === 'table') for (const o of p.fieldConfig.overrides.filter((x) => x.matcher.options !== 'scraper')) expect(o.properties.find((x) => x.id === 'unit')).toBeDefined();
    else if (p.type !== 'heatmap') expect(p.fieldConfig.defaults.unit).toBeTruthy();
    expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    expect(p.targets.length).toBeGreaterThan(0);
    for (const t of p.targets) {
      expect(t.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      // ALERTS carries the alert's labels, not the scrape job's.
      if (!t.expr.includes('ALERTS{')) expect(t.expr).toMatch(/\$job/);
    }
  });

  it("every rate() and increase() uses $__rate_interval, a fixed 1h/1d throughput window, or an alert's own window", () => {
    const s = defaults;
    const alertWindows = [s.scraper.schemaErrors.window, s.scraper.itemRateDrop.window, s.scraper.itemRateDrop.baseline, s.scraper.noRecentSuccess.window, s.slo.window];
    const windows = panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/(?:rate|increase)\([^[]*\[([^\]]+)\]/g)].map((m) => m[1])));
    expect(windows.length).toBeGreaterThan(0);
    expect(windows.filter((w) => !['$__rate_interval', '1h', '1d', ...alertWindows].includes(w ?? ''))).toEqual([]);
  });

  it('panel ids are unique per dashboard, panels fit the 24-column grid, and no two panels overlap', () => {
    for (const b of boards) {
      expect(new Set(b.panels.map((p) => p.id)).size).toBe(b.panels.length);
      for (const p of b.panels) {
        expect(p.gridPos.x).toBeGreaterThanOrEqual(0);
        expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      }
      const overlap = (a: Panel['gridPos'], c: Panel['gridPos']) => a.x < c.x + c.w && c.x < a.x + a.w && a.y < c.y + c.h && c.y < a.y + a.h;
      const pairs = b.panels.flatMap((p, i) => b.panels.slice(i + 1).filter((q) => overlap(p.gridPos, q.gridPos)).map((q) => `${p.title} / ${q.title}`));
      expect(pairs).toEqual([]);
    }
  });

  it('the fleet overview opens with a row of four stats, then the scrapers table', () => {
    const p = board(dashboardUids.fleet).panels;
    const top = p.filter((x) => x.gridPos.y === 0);
    expect(top.map((x) => [x.type, x.title])).toEqual([
      ['stat', 'Targets up'],
      ['stat', 'Scrapers with no recent success'],
      ['stat', 'Jobs in flight'],
      ['stat', 'Error budget left'],
    ]);
    const table = p.find((x) => x.type === 'table');
    expect(table?.title).toBe('Scrapers');
    expect(table?.gridPos).toMatchObject({ x: 0, y: Math.max(...top.map((x) => x.gridPos.h)), w: 24 });
    // Stats and table read one instant value each: a glance needs no history.
    for (const x of [...top, table!]) for (const t of x.targets) expect(t.instant).toBe(true);
    for (const t of table!.targets) expect(t.format).toBe('table');
  });

  it('the fleet overview ends with an HTTP services row: rate by route, answers by status, 5xx ratio, p50/p95/p99, in flight, by job', () => {
    const p = board(dashboardUids.fleet).panels;
    const at = p.findIndex((x) => x.type === 'row');
    expect(p.filter((x) => x.type === 'row').map((x) => x.title)).toEqual(['HTTP services']);
    const row = p[at]!;
    // An expanded row: its panels follow it in the list and sit below it; nothing else comes after them.
    expect(row).toMatchObject({ collapsed: false, panels: [], gridPos: { x: 0, w: 24, h: 1 } });
    expect(row.gridPos.y).toBe(Math.max(...p.slice(0, at).map((x) => x.gridPos.y + x.gridPos.h)));
    const section = p.slice(at + 1);
    expect(section.map((x) => x.title)).toEqual([
      'HTTP requests per second by route',
      'HTTP answers per second by status code',
      'HTTP server error ratio (5xx) by route',
      'HTTP request duration p50 / p95 / p99 by route',
      'HTTP requests in flight',
    ]);
    for (const x of section) expect(x.gridPos.y).toBeGreaterThan(row.gridPos.y);
    const exprs = section.flatMap((x) => x.targets.map((t) => t.expr));
    // Quantiles read the native histogram or the classic buckets: `(histogram_quantile(q, sum by (job, ...)) or histogram_quantile(q, sum by (le, job, ...)))`.
    for (const e of exprs) expect(e).toMatch(/^\(?(histogram_quantile\(0\.\d+, )?\(?sum by \((le, )?job\b/);
    expect(exprs.filter((e) => e.startsWith('(histogram_quantile(')).length).toBe(defaults.quantiles.length);
    expect(section[2]!.targets[0]!.expr).toContain('status_code=~"5.."');
    expect(section[2]!.links?.map((l) => l.title)).toEqual(['Runbook: HttpServerErrorRateHigh']);
  });

  it('the pipeline dashboard has p50/p95/p99 per stage, queue wait vs processing, an RTF heatmap, failures by stage, hourly and daily throughput, in progress', () => {
    const p = board(dashboardUids.pipeline).panels;
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
    const links = panels.flatMap((p) => p.links ?? []);
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) {
      expect(l.url.startsWith(`${defaults.runbookBaseUrl}#`)).toBe(true);
      expect(runbookAnchors).toContain(l.url.split('#')[1]);
    }
  });
});

/** columnSteps returns the threshold steps a table column is coloured by. */
function columnSteps(p: Panel, column: string) {
  const o = p.fieldConfig.overrides.find((x) => x.matcher.id === 'byName' && x.matcher.options === column);
  return o?.properties.find((x) => x.id === 'thresholds')?.value.steps as { value: number | null; color: string }[] | undefined;
}

/** The column names the table's organize transformation gives its queries, by refId. */
function columns(p: Panel): Map<string, { name: string; expr: string }> {
  const rename = p.transformations?.find((t) => t.id === 'organize')?.options.renameByName as Record<string, string>;
  return new Map(p.targets.map((t) => [t.refId, { name: rename[`Value #${t.refId}`]!, expr: t.expr }]));
}

describe('thresholds are the alerts’ own', () => {
  /** Non-default thresholds and windows: a number typed into the dashboard generator instead of read from the settings fails here. */
  const odd: Settings = {
    ...defaults,
    scraper: {
      ...defaults.scraper,
      noRecentSuccess: { ...defaults.scraper.noRecentSuccess, maxAgeSeconds: 4321, window: '3h' },
      schemaErrors: { ...defaults.scraper.schemaErrors, maxRatio: 0.07, window: '45m' },
      itemRateDrop: { ...defaults.scraper.itemRateDrop, minRatioOfBaseline: 0.3, window: '2h', baseline: '5d' },
    },
    slo: { ...defaults.slo, target: 0.995, window: '28d' },
  };
  const alerts = (s: Settings) =>
    new Map(
      (parse(generateAll(s).find((f) => f.path === 'deploy/prometheus/rules/alerts.yml')!.content) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups
        .flatMap((g) => g.rules)
        .map((r) => [r.alert, r.expr]),
    );

  it.each([
    ['defaults', defaults],
    ['other settings', odd],
  ] as const)('the scrapers table colours each column at its alert’s threshold and window (%s)', (_name, s) => {
    const table = boardsFor(s)
      .find((b) => b.uid === dashboardUids.fleet)!
      .panels.find((p) => p.type === 'table')!;
    const cols = [...columns(table).values()];
    const col = (prefix: string) => cols.find((c) => c.name.startsWith(prefix))!;
    const rules = alerts(s);
    const { noRecentSuccess, schemaErrors, itemRateDrop } = s.scraper;

    const age = col('Last success');
    expect(columnSteps(table, age.name)).toEqual([{ value: null, color: 'green' }, { value: noRecentSuccess.maxAgeSeconds, color: 'red' }]);
    expect(rules.get('ScraperNoRecentSuccess')).toContain(`> ${noRecentSuccess.maxAgeSeconds}`);
    expect(age.expr).toContain(`[${noRecentSuccess.memory}]`);

    const errors = col('Schema errors per item');
    expect(columnSteps(table, errors.name)).toEqual([{ value: null, color: 'green' }, { value: schemaErrors.maxRatio, color: 'red' }]);
    expect(rules.get('ScraperHighSchemaErrorRate')).toContain(`> ${schemaErrors.maxRatio}`);
    expect(errors.expr).toContain(`[${schemaErrors.window}]`);
    expect(errors.name).toContain(schemaErrors.window);

    const drop = col('Items vs');
    expect(columnSteps(table, drop.name)).toEqual([{ value: null, color: 'red' }, { value: itemRateDrop.minRatioOfBaseline, color: 'green' }]);
    expect(rules.get('ScraperItemRateDrop')).toContain(`< ${itemRateDrop.minRatioOfBaseline} *`);
    expect(drop.expr).toContain(`[${itemRateDrop.window}]`);
    expect(drop.expr).toContain(`[${itemRateDrop.baseline}]`);

    // A column without an alert threshold is not coloured.
    expect(columnSteps(table, col('Items/min').name)).toBeUndefined();
  });

  it.each([
    ['defaults', defaults],
    ['other settings', odd],
  ] as const)('the stats read the alert’s age and window and the SLO’s target and window (%s)', (_name, s) => {
    const stats = boardsFor(s).find((b) => b.uid === dashboardUids.fleet)!.panels.filter((p) => p.type === 'stat');
    const stale = stats.find((p) => p.title === 'Scrapers with no recent success')!;
    expect(stale.targets[0]?.expr).toContain(`> ${s.scraper.noRecentSuccess.maxAgeSeconds})`);
    expect(stale.targets[0]?.expr).toContain(`[${s.scraper.noRecentSuccess.window}]`);
    expect(stale.fieldConfig.defaults.thresholds?.steps).toEqual([{ value: null, color: 'green' }, { value: 1, color: 'red' }]);
    const budget = stats.find((p) => p.title === 'Error budget left')!;
    expect(budget.targets[0]?.expr).toContain(`/ (1 - ${s.slo.target})`);
    expect(budget.targets[0]?.expr).toContain(`[${s.slo.window}]`);
    expect(budget.targets[0]?.expr).toContain(`outcome=~"${s.slo.badOutcomes.join('|')}"`);
    expect(budget.fieldConfig.defaults.thresholds?.steps).toEqual([{ value: null, color: 'red' }, { value: 0, color: 'green' }]);
  });
});

describe('exemplars', () => {
  const quantileTargets = panels.flatMap((p) => p.targets.filter((t) => /^\(?histogram_quantile\(/.test(t.expr)).map((t) => ({ panel: p, t })));

  it('every histogram_quantile query says whether it asks for exemplars: yes over pipeline histograms (job ids), no over the scraper’s', () => {
    expect(quantileTargets.length).toBeGreaterThan(10);
    const wrong = quantileTargets.filter(({ t }) => t.exemplar !== /\(pipeline_[a-z0-9_]+_bucket\{/.test(t.expr)).map(({ panel, t }) => `${panel.title}: ${t.expr}`);
    expect(wrong).toEqual([]);
    expect(quantileTargets.filter(({ t }) => t.exemplar === true).length).toBeGreaterThan(0);
    expect(quantileTargets.some(({ t }) => t.exemplar === false && t.expr.includes('scraper_run_duration_seconds_bucket'))).toBe(true);
  });

  it('the real-time factor heatmap shows job ids too', () => {
    const heat = board(dashboardUids.pipeline).panels.find((p) => p.type === 'heatmap')!;
    expect(heat.targets.map((t) => [t.format, t.exemplar])).toEqual([['heatmap', true]]);
  });
});

/**
 * How Grafana picks a datasource variable's value once it has its options (grafana/scenes MultiValueVariable): the
 * option whose value (uid) is the current value, else the one whose label (name) is the current text, else the first.
 */
function pick(current: Variable['current'], options: { label: string; value: string }[]): string | undefined {
  const value = current?.value;
  const text = current?.text;
  return (options.find((o) => o.value === value) ?? options.find((o) => o.label === text) ?? options[0])?.value;
}

/**
 * What Grafana's import does with `__inputs` (pkg/services/dashboardimport/utils/dash_template_evaluator.go): every
 * `${NAME}` of a declared input, in any string anywhere in the JSON, becomes the value chosen for it; `__inputs` goes.
 */
function importThroughUi(b: Board, chosen: Record<string, string>): Board {
  const declared = new Map((b.__inputs ?? []).map((i) => [`\${${i.name}}`, i.name]));
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(/\$\{.+?\}/g, (m) => (declared.has(m) ? (chosen[declared.get(m)!] ?? m) : m));
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== '__inputs').map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(b) as Board;
}

/** resolveAll returns, for every datasource reference of a dashboard, the uid Grafana ends at with these datasources. */
function resolveAll(b: Board, options: { label: string; value: string }[]): Map<string, string | undefined> {
  const vars = new Map(b.templating.list.map((v) => [v.name, v]));
  const resolve = (ref: Ref | undefined): string | undefined => {
    const m = /^\$\{(\w+)\}$/.exec(ref?.uid ?? '');
    if (m === null) return options.find((o) => o.value === ref?.uid)?.value;
    const v = vars.get(m[1]!);
    return v?.type === 'datasource' && v.query === ref?.type ? pick(v.current, options) : undefined;
  };
  const refs: [string, Ref | undefined][] = [
    ...b.templating.list.filter((v) => v.type === 'query').map((v): [string, Ref | undefined] => [`$${v.name}`, v.datasource]),
    ...b.panels.filter(notRow).flatMap((p) => [[p.title, p.datasource] as [string, Ref], ...p.targets.map((t): [string, Ref | undefined] => [`${p.title} ${t.refId}`, t.datasource])]),
  ];
  return new Map(refs.map(([where, ref]) => [where, resolve(ref)]));
}

describe('datasource: provisioned and imported through the UI', () => {
  const provisioned = readYaml('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0] as { name: string; uid: string; type: string };
  const ours = { label: provisioned.name, value: provisioned.uid };
  // Another Prometheus listed first: Grafana falls back to the first option when nothing matches.
  const another = { label: 'Another Prometheus', value: 'another-prometheus' };

  it('the provisioning file creates the datasource the dashboards are written for', () => {
    expect(provisioned).toMatchObject({ type: 'prometheus', name: DATASOURCE_NAME, uid: DATASOURCE_UID });
  });

  it.each(boards.map((b) => [b.uid, b]))('%s declares the DS_PROMETHEUS input, referenced only by the datasource variable’s default', (_uid, b) => {
    expect(b.__inputs).toEqual([expect.objectContaining({ name: DATASOURCE_INPUT, type: 'datasource', pluginId: 'prometheus' })]);
    const json = JSON.stringify(b);
    expect(json.split(`\${${DATASOURCE_INPUT}}`).length - 1).toBe(1);
    expect(b.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus', current: { text: DATASOURCE_NAME, value: `\${${DATASOURCE_INPUT}}` } });
  });

  it.each(boards.map((b) => [b.uid, b]))('%s under file provisioning (no substitution): every reference resolves to the provisioned datasource', (_uid, b) => {
    for (const options of [[ours], [another, ours]]) {
      const resolved = resolveAll(b, options);
      expect(resolved.size).toBeGreaterThan(b.panels.length);
      expect([...resolved].filter(([, uid]) => uid !== DATASOURCE_UID)).toEqual([]);
    }
  });

  it.each(boards.map((b) => [b.uid, b]))('%s imported through the UI: every reference resolves to the datasource picked at import', (_uid, b) => {
    for (const chosen of [another.value, ours.value]) {
      const imported = importThroughUi(b, { [DATASOURCE_INPUT]: chosen });
      expect(JSON.stringify(imported)).not.toContain(`\${${DATASOURCE_INPUT}}`);
      expect(imported.__inputs).toBeUndefined();
      const resolved = resolveAll(imported, [ours, another]);
      expect([...resolved].filter(([, uid]) => uid !== chosen)).toEqual([]);
    }
  });

  it('the resolution model fails a panel that names the input directly: provisioning leaves ${DS_PROMETHEUS} unresolved', () => {
    const b = structuredClone(board(dashboardUids.fleet));
    b.panels[0]!.datasource = { type: 'prometheus', uid: `\${${DATASOURCE_INPUT}}` };
    expect(resolveAll(b, [ours]).get(b.panels[0]!.title)).toBeUndefined();
  });

  it.each(boards.map((b) => [b.uid, b]))('%s uses no variable it does not define, besides Grafana’s built-ins', (_uid, b) => {
    const defined = new Set(b.templating.list.map((v) => v.name));
    const builtins = new Set(['__rate_interval', '__interval', '__range', '__value.raw', '__url_time_range', '__all', DATASOURCE_INPUT]);
    const used = [...JSON.stringify(b.panels).matchAll(/\$\{([\w.]+)(?::\w+)?\}|\$([A-Za-z_]\w*)/g)].map((m) => m[1] ?? m[2]!);
    expect(used.length).toBeGreaterThan(0);
    expect([...new Set(used)].filter((n) => !defined.has(n) && !builtins.has(n))).toEqual([]);
  });

  it.each(boards.map((b) => [b.uid, b]))('%s requires the Grafana its SDK builders follow, Prometheus, and each panel type it uses', (_uid, b) => {
    const sdk = JSON.parse(readFileSync(join(repoRoot, 'node_modules/@grafana/grafana-foundation-sdk/package.json'), 'utf8')) as { version: string };
    expect(sdk.version.startsWith(`${GRAFANA_VERSION}-`)).toBe(true);
    expect(b.__requires?.find((r) => r.type === 'grafana')?.version).toBe(GRAFANA_VERSION);
    expect(b.__requires?.filter((r) => r.type === 'datasource').map((r) => r.id)).toEqual(['prometheus']);
    expect(b.__requires?.filter((r) => r.type === 'panel').map((r) => r.id)).toEqual([...new Set(b.panels.filter(notRow).map((p) => p.type))].sort());
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

  it('grafanaFiles writes the provisioning files and one JSON file per dashboard', () => {
    expect(grafanaFiles(defaults).map((f) => f.path).sort()).toEqual([
      'dashboards/fleet-overview.json',
      'dashboards/pipeline-detail.json',
      'dashboards/scraper-detail.json',
      'provisioning/dashboards/pipemeter.yml',
      'provisioning/datasources/prometheus.yml',
    ]);
  });
});

describeWithTools(['promtool'], 'dashboard PromQL with promtool', () => {
  it('every panel query and variable query parses (checked as recording rules, variables substituted)', async () => {
    const exprs = [
      ...panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...boards.flatMap((b) => b.templating.list.filter((v) => v.type === 'query').map((v) => v.query!.replace(/^label_values\((.*), \w+\)$/, '$1'))),
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
