/**
 * The fleet overview's queries against a real Prometheus holding 30 days of an 11-scraper, 4-pipeline fleet at the
 * shipped 30 s scrape interval (backfilled with promtool): each query as Grafana runs it when the dashboard opens
 * (stats and the table instant, time series over the default 24 h), one at a time and all at once. Needs
 * `prometheus` and `promtool` on PATH; bounded in time.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FamilyDef, catalog } from '../src/catalog/index.js';
import { dashboards } from '../src/deploy/grafana.js';
import { dashboardUids } from '../src/deploy/grafana-ids.js';
import { defaults } from '../src/deploy/settings.js';
import { fmt, freePort, machine, median, spread } from './lib.js';

const DAYS = 30;
const STEP_S = 30; // the shipped scrape interval
const SCRAPERS = Array.from({ length: 11 }, (_, i) => `scraper-${String(i + 1).padStart(2, '0')}`);
const PIPELINES = ['video', 'crawl', 'images', 'audio'];
const ROUNDS = 5;
/** Time series are asked for the dashboard's default range (24 h) at this step; $__rate_interval is then max(4 × scrape, step + scrape). */
const RANGE_S = 86_400;
const QUERY_STEP_S = 60;
const RATE_INTERVAL = `${Math.max(4 * STEP_S, QUERY_STEP_S + STEP_S)}s`;

/** A small seeded generator (mulberry32), so every run writes the same data. */
let seed = 42;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}

/** Values of open labels; `source` follows the scraper (one host per site). */
const OPEN: Record<string, string[]> = {
  scraper: SCRAPERS,
  pipeline: PIPELINES,
  item_type: ['track', 'artist'],
  error_type: ['validation'],
  stage: ['download'],
  reason: ['label_value_too_long'],
  metric: ['scraper_items_created_total'],
  source: ['events'],
  method: ['GET', 'POST'],
  route: ['/items/:id', '/'],
  status_code: ['200', '500'],
};
/** Relative event rates by outcome, so failures are rare as they are in a healthy fleet. */
const WEIGHT: Record<string, number> = { completed: 20, failed: 0.1, cancelled: 0.1, abandoned: 0.05, success: 1, failure: 0.02, rejected: 0.01 };

function labelSets(f: FamilyDef): Record<string, string>[] {
  let sets: Record<string, string>[] = [{ job: 'pipemeter', instance: 'a:9464' }];
  for (const l of f.labels) {
    sets = sets.flatMap((s) => {
      if (l === 'source' && s.scraper !== undefined) return [{ ...s, source: `www.${s.scraper}.example` }];
      return (f.values?.[l] ?? OPEN[l] ?? ['x']).map((v) => ({ ...s, [l]: v }));
    });
  }
  return sets;
}

const fmtLabels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

/** writeData writes DAYS of samples of every family the fleet overview reads, and `up`, as OpenMetrics; returns the series count. */
async function writeData(file: string, end: number, families: readonly FamilyDef[]): Promise<{ series: number; samples: number }> {
  const out = createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  const steps = (DAYS * 86_400) / STEP_S;
  let series = 0;
  const family = async (name: string, type: string, all: { key: string; next: (t: number) => number }[]) => {
    await write(`# TYPE ${name} ${type}\n`);
    series += all.length;
    let chunk = '';
    for (let i = 0; i < steps; i++) {
      const t = end - (steps - 1 - i) * STEP_S;
      for (const s of all) chunk += `${s.key} ${s.next(t)} ${t}\n`;
      if (chunk.length > 1 << 20) {
        await write(chunk);
        chunk = '';
      }
    }
    await write(chunk);
  };
  await family('up', 'gauge', [{ key: `up${fmtLabels({ job: 'pipemeter', instance: 'a:9464' })}`, next: () => 1 }]);
  for (const f of families) {
    const sets = labelSets(f);
    if (f.type === 'counter') {
      await family(
        f.name.replace(/_total$/, ''),
        'counter',
        sets.map((l) => {
          const w = WEIGHT[l.outcome ?? ''] ?? 1;
          let v = 0;
          return { key: `${f.name}${fmtLabels(l)}`, next: () => (v += Math.floor(rand() * 2 * w + rand())) };
        }),
      );
    } else if (f.type === 'histogram') {
      // A histogram as the classic series Prometheus stores from a text scrape (typed unknown, so each part keeps its
      // name): cumulative buckets, count and sum, each step's increments a function of (step, set, bucket).
      const bounds = [...(f.buckets ?? []), Infinity];
      const inc = (t: number, set: number, b: number) => ((t * 2654435761 + set * 40503 + b * 69069) >>> 0) % (b % 3 === 0 ? 3 : 2);
      const upTo = (t: number, set: number, i: number) => bounds.slice(0, i + 1).reduce((n, _b, j) => n + inc(t, set, j), 0);
      const mid = (j: number) => (j === 0 ? bounds[0]! / 2 : j === bounds.length - 1 ? bounds[j - 1]! * 1.5 : (bounds[j - 1]! + bounds[j]!) / 2);
      const running = (step: (t: number) => number) => {
        let v = 0;
        return (t: number) => (v += step(t));
      };
      const le = (b: number) => (b === Infinity ? '+Inf' : String(b));
      await family(`${f.name}_bucket`, 'unknown', sets.flatMap((l, set) => bounds.map((b, i) => ({ key: `${f.name}_bucket${fmtLabels({ ...l, le: le(b) })}`, next: running((t) => upTo(t, set, i)) }))));
      await family(`${f.name}_count`, 'unknown', sets.map((l, set) => ({ key: `${f.name}_count${fmtLabels(l)}`, next: running((t) => upTo(t, set, bounds.length - 1)) })));
      await family(
        `${f.name}_sum`,
        'unknown',
        sets.map((l, set) => ({ key: `${f.name}_sum${fmtLabels(l)}`, next: running((t) => bounds.reduce((n, _b, j) => n + inc(t, set, j) * mid(j), 0)) })),
      );
    } else {
      const stamp = f.name.endsWith('_timestamp_seconds');
      await family(f.name, 'gauge', sets.map((l) => ({ key: `${f.name}${fmtLabels(l)}`, next: (t) => (stamp ? t - Math.floor(rand() * 600) : Math.floor(rand() * 8)) })));
    }
  }
  await write('# EOF\n');
  await new Promise<void>((r) => out.end(r));
  return { series, samples: series * steps };
}

interface PanelQuery {
  panel: string;
  kind: 'instant' | 'range';
  expr: string;
  /** Part of what this change added (the stats and the table). */
  glance: boolean;
}

function fleetQueries(): PanelQuery[] {
  const fleet = dashboards(defaults).find((d) => d.dashboard.uid === dashboardUids.fleet)!.dashboard;
  return ((fleet.panels ?? []) as { title?: string; type: string; targets?: { expr: string; instant?: boolean }[] }[]).flatMap((p) =>
    (p.targets ?? [])
      // ALERTS has series only while an alert fires: nothing to read here.
      .filter((t) => !t.expr.includes('ALERTS{'))
      .map((t) => ({
        panel: p.title ?? '',
        kind: t.instant === true ? ('instant' as const) : ('range' as const),
        expr: t.expr.replaceAll('$__rate_interval', RATE_INTERVAL).replace(/\$(job|scraper|pipeline)\b/g, '.*'),
        glance: p.type === 'stat' || p.type === 'table',
      })),
  );
}

async function main(): Promise<void> {
  for (const tool of ['prometheus', 'promtool']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench dashboards: needs ${tool} on PATH (Debian package prometheus)`);
  }
  const queries = fleetQueries();
  const families = catalog.filter((f) => queries.some((q) => q.expr.includes(f.name)));
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-bench-dashboards-'));
  let prom: ChildProcess | undefined;
  try {
    const end = Math.floor(Date.now() / 1000) - 60;
    const t0 = performance.now();
    const data = await writeData(join(dir, 'data.om'), end, families);
    const wrote = (performance.now() - t0) / 1000;
    // One block for the whole range: promtool reads the input once per block, so 2 h blocks would mean 360 passes.
    const b = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', `--max-block-duration=${(DAYS + 1) * 24}h`, 'data.om', 'tsdb'], { cwd: dir, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`promtool could not backfill: ${b.stdout}${b.stderr}`);
    rmSync(join(dir, 'data.om'));
    const backfilled = (performance.now() - t0) / 1000 - wrote;
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: ${STEP_S}s\n`);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--storage.tsdb.retention.time=${DAYS + 15}d`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`${base}/-/ready`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error('Prometheus not ready in 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }

    const run = async (q: PanelQuery): Promise<number> => {
      const params =
        q.kind === 'instant'
          ? new URLSearchParams({ query: q.expr, time: String(end) })
          : new URLSearchParams({ query: q.expr, start: String(end - RANGE_S), end: String(end), step: String(QUERY_STEP_S) });
      const t = performance.now();
      const r = (await (await fetch(`${base}/api/v1/${q.kind === 'instant' ? 'query' : 'query_range'}?${params}`)).json()) as { status: string; error?: string; data?: { result: unknown[] } };
      const ms = performance.now() - t;
      if (r.status !== 'success' || (r.data?.result.length ?? 0) === 0) throw new Error(`${q.panel}: ${q.expr}: ${r.error ?? 'no data'}`);
      return ms;
    };
    const all = (qs: readonly PanelQuery[]) => async () => {
      const t = performance.now();
      await Promise.all(qs.map(run));
      return performance.now() - t;
    };
    // A warm-up round reads every chunk once, so the rounds compare queries, not the page cache.
    for (const q of queries) await run(q);
    const alone = queries.map(() => [] as number[]);
    const whole: number[] = [];
    const before: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, q] of queries.entries()) alone[i]!.push(await run(q));
      whole.push(await all(queries)());
      before.push(await all(queries.filter((q) => !q.glance))());
    }

    const rows = queries
      .map((q, i) => ({ q, ms: alone[i]! }))
      .filter(({ q }) => q.glance)
      .map(({ q, ms }) => `| ${q.panel} | ${q.kind} | \`${q.expr.length > 90 ? `${q.expr.slice(0, 87)}...` : q.expr}\` | ${fmt(median(ms))} ms (${spread(ms)}) |`);
    const slowestOther = queries
      .map((q, i) => ({ q, ms: median(alone[i]!) }))
      .filter(({ q }) => !q.glance)
      .sort((a, b) => b.ms - a.ms)[0]!;
    const report = `# Dashboard queries benchmark

${machine()}; Prometheus ${spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.replace(/^prometheus, version (\S+).*/, '$1')}; ${ROUNDS} rounds after a warm-up.
Data: ${DAYS} days of every series the fleet overview reads, for ${SCRAPERS.length} scrapers and ${PIPELINES.length} pipelines at the
shipped ${STEP_S} s scrape interval: ${data.series} series, ${fmt(data.samples)} samples, written in ${wrote.toFixed(0)} s and backfilled
by promtool in ${backfilled.toFixed(0)} s into one block. Each query as Grafana sends it when the dashboard opens: the stats and
the table instant, the time series over the default 24 h at a ${QUERY_STEP_S} s step (\`$__rate_interval\` = ${RATE_INTERVAL}).
Absolute times on a shared machine: reported, not asserted.

The queries this change added (one at a time, median and range over rounds):

| panel | query kind | expression | time |
|---|---|---|---|
${rows.join('\n')}

| the whole fleet overview, every query at once (as Grafana sends them) | median (range) |
|---|---|
| ${queries.length} queries: the stats and table with the time series | ${fmt(median(whole))} ms (${spread(whole)}) |
| ${queries.filter((q) => !q.glance).length} queries: the time series alone (the dashboard before the stats and table) | ${fmt(median(before))} ms (${spread(before)}) |

The slowest time-series query, for scale: ${slowestOther.q.panel}, ${fmt(slowestOther.ms)} ms.
`;
    process.stdout.write(report);
    if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/dashboards.md', import.meta.url), report);
  } finally {
    if (prom !== undefined && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (prom.exitCode === null) prom.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
