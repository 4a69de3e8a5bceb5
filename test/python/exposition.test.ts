/**
 * A Python worker's /metrics as Prometheus and pipemeter judge it: the text exposition passes `promtool check metrics`,
 * and `pipemeter check --catalog` (OpenMetrics, as Prometheus asks) finds the catalog families of a scraper and a
 * pipeline with no finding.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { builtCli, promtoolCheckMetrics } from '../helpers/tools.js';
import { PYTHON, describeWithPython, fixtures, pythonEnv, repoRoot } from './helpers.js';

describeWithPython(['prometheus_client'], ['promtool'], 'a Python worker\'s /metrics through promtool and pipemeter check', () => {
  let worker: ChildProcess | undefined;
  let url = '';

  beforeAll(async () => {
    worker = spawn(PYTHON, [`${fixtures}/worker.py`, '--rounds', '5', '--every', '0.05'], { cwd: repoRoot, env: pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    worker.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      worker!.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      worker!.once('exit', (code) => reject(new Error(`worker.py exited with ${code}: ${err}`)));
    });
    // Five rounds of work at 50 ms.
    await new Promise((r) => setTimeout(r, 500));
  }, 20_000);

  afterAll(() => {
    worker?.stdin?.end();
    worker?.kill();
  });

  it('text 0.0.4 (default collectors included) passes promtool check metrics with no finding', async () => {
    const res = await fetch(url);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('scraper_items_created_total{item_type="track",scraper="beatport",source="www.beatport.com"}');
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    expect(promtoolCheckMetrics(text)).toEqual({ code: 0, findings: '' });
  });

  it('pipemeter check --catalog: exit 0, kinds scraper and pipeline, no finding', () => {
    const r = spawnSync('node', [builtCli(), 'check', '--catalog', '--json', url], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const target = report.targets[0];
    expect(report.ok).toBe(true);
    expect(target.ok).toBe(true);
    expect(target.format).toBe('openmetrics');
    expect(target.kinds).toEqual(['scraper', 'pipeline']);
    expect(target.findings.filter((f: { severity: string }) => f.severity !== 'note')).toEqual([]);
  });
});
