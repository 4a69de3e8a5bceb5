/**
 * A real Prometheus scrapes a Python worker (OpenMetrics, as Prometheus asks) and evaluates the shipped recording
 * rules (deploy/prometheus/rules/recording.yml) on it: every scraper and pipeline rule has data, and the job ids
 * arrive as exemplars.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../helpers/tools.js';
import { PYTHON, describeWithPython, fixtures, pythonEnv, repoRoot, until } from './helpers.js';

const rulesFile = join(repoRoot, 'deploy/prometheus/rules/recording.yml');
const records: string[] = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { record?: string }[] }[] }).groups
  .flatMap((g) => g.rules)
  .map((r) => r.record)
  .filter((r): r is string => typeof r === 'string' && /^(scraper|pipeline):/.test(r));

describeWithPython(['prometheus_client'], ['prometheus'], 'a real Prometheus scrapes a Python worker with the shipped recording rules', () => {
  let worker: ChildProcess | undefined;
  let prom: ChildProcess | undefined;
  let dir = '';
  let base = '';
  let log = '';

  const query = async (expr: string) => {
    const r = (await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (r.status !== 'success') throw new Error(`${expr}: ${JSON.stringify(r)}`);
    return r.data.result;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipemeter-py-prom-'));
    worker = spawn(PYTHON, [`${fixtures}/worker.py`, '--every', '0.2'], { cwd: repoRoot, env: pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      worker!.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      worker!.once('exit', (code) => reject(new Error(`worker.py exited with ${code}`)));
    });
    const target = new URL(url).host;
    // The shipped rules read pipemeter's own jobs only: the worker is scraped as the generated config scrapes workers.
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${rulesFile}\nscrape_configs:\n  - job_name: pipemeter-workers\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--enable-feature=exemplar-storage', '--log.level=warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    prom.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    await until('Prometheus to be ready', async () => ((await fetch(`${base}/-/ready`).catch(() => undefined))?.ok ? true : undefined), 30_000, () => log);
  }, 45_000);

  afterAll(() => {
    worker?.stdin?.end();
    worker?.kill();
    prom?.kill('SIGKILL');
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('finds the worker up, with no scrape error', async () => {
    const up = await until('the worker to be up', async () => {
      const r = await query('up{job="pipemeter-workers"}');
      return r.length === 1 && r[0]!.value[1] === '1' ? r : undefined;
    }, 20_000, () => log);
    expect(up).toHaveLength(1);
    const targets = (await (await fetch(`${base}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
    expect(targets.data.activeTargets.map((t) => [t.health, t.lastError])).toEqual([['up', '']]);
  }, 25_000);

  it(`every scraper and pipeline recording rule (${records.length}) has finite data`, async () => {
    expect(records.length).toBeGreaterThan(30);
    const empty = await until(
      'every recording rule to have data',
      async () => {
        const missing: string[] = [];
        for (const r of records) {
          const v = await query(r);
          if (!v.some((s) => Number.isFinite(Number(s.value[1])))) missing.push(r);
        }
        return missing.length === 0 ? missing : undefined;
      },
      40_000,
      () => log,
    );
    expect(empty).toEqual([]);
    // The values are the worker's: one scraper, one pipeline.
    expect((await query('scraper:scraper_items_created:rate5m')).map((s) => s.metric.scraper)).toEqual(['beatport']);
    expect((await query('pipeline:pipeline_stage_duration_seconds:p95_5m')).map((s) => s.metric.stage).sort()).toEqual(['download', 'upload', 'validate']);
  }, 45_000);

  it('stores the job ids as exemplars', async () => {
    const now = Date.now() / 1000;
    const r = (await (await fetch(`${base}/api/v1/query_exemplars?query=pipeline_stage_duration_seconds_bucket&start=${now - 120}&end=${now + 5}`)).json()) as {
      data: { exemplars: { labels: Record<string, string> }[] }[];
    };
    const ids = r.data.flatMap((s) => s.exemplars.map((e) => e.labels.job_id));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => /^celery-\d+$/.test(id ?? ''))).toBe(true);
  });
});
