/**
 * Every dashboard query and recording-rule expression returns data from a real Prometheus holding two hours of
 * catalog-shaped series (backfilled with promtool): a query that parses but selects nothing fails here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FamilyDef, catalog } from '../../src/catalog/index.js';
import { dashboards } from '../../src/deploy/grafana.js';
import { recordingRuleGroups } from '../../src/deploy/rules.js';
import { defaults } from '../../src/deploy/settings.js';
import { describeWithTools } from '../helpers/tools.js';
import { runAsync } from './helpers.js';
import { freePort } from '../helpers/tools.js';

/** Values for open labels; closed labels take every value the catalog lists. */
const OPEN_VALUES: Record<string, string> = {
  scraper: 'spotify',
  pipeline: 'video',
  stage: 'transcription',
  item_type: 'track',
  source: 'open.spotify.com',
  error_type: 'validation',
};
const STEP_S = 30;
const STEPS = 240; // two hours at the 30 s scrape interval

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
      family(f.name, 'gauge', (_i, t) => sets.map((l) => [`${f.name}${fmt(l)}`, f.name.endsWith('_timestamp_seconds') ? t - 60 : 5]));
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


const boards = dashboards(defaults).map((d) => d.dashboard);
const queries: [string, string][] = [
  ...boards.flatMap((b) =>
    b.panels
      // ALERTS exists only while an alert fires; no catalog data can make it appear.
      .flatMap((p) => p.targets.filter((t) => !t.expr.includes('ALERTS{')).map((t): [string, string] => [`${b.uid} / ${p.title}`, t.expr])),
  ),
  ...boards.flatMap((b) =>
    b.templating.list
      .filter((v) => v.type === 'query')
      .map((v): [string, string] => [`${b.uid} / $${v.name}`, v.query.replace(/^label_values\((.*), \w+\)$/, '$1')]),
  ),
  ...recordingRuleGroups(defaults).flatMap((g) => g.rules.map((r): [string, string] => [`record ${r.record}`, r.expr])),
];

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

  it('backfilled the data (sanity: a raw family has series)', async () => {
    const r = (await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent('count(scraper_runs_total)')}&time=${end}`)).json()) as any;
    expect(r.data.result[0]?.value[1]).toBe('2');
  });

  it.each(queries)('%s returns data', async (_where, expr) => {
    const url = `${base}/api/v1/query?query=${encodeURIComponent(substitute(expr))}&time=${end}`;
    const r = (await (await fetch(url)).json()) as { status: string; error?: string; data?: { result: unknown[] } };
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('success');
    expect(r.data?.result.length, substitute(expr)).toBeGreaterThan(0);
  });
});
