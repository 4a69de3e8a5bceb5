/**
 * The examples of docs/python.md, run as written (only ports changed): the in-process quick start, the FastAPI app
 * under uvicorn, the Scrapy crawl and the Celery app into a real sidecar, and the sidecar client; a `# =>` line is
 * the exact output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../helpers/tools.js';
import { type RedisServer, startRedis } from '../sidecar/brokers/redis-server.js';
import { PYTHON, type Serve, describeWithPython, key, pythonEnv, repoRoot, runPython, sampleValues, startServe, until } from './helpers.js';

const doc = readFileSync(join(repoRoot, 'docs/python.md'), 'utf8');
const blocks = [...doc.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => {
  const code = m[1]!;
  return { code, file: /^# (\S+\.py)/.exec(code)?.[1], want: /^# => (.*)$/m.exec(code)?.[1] };
});
const named = (file: string) => blocks.find((b) => b.file === file)!.code;
const scripts = blocks.filter((b) => b.file === undefined);

describeWithPython(['prometheus_client', 'scrapy', 'celery', 'redis', 'fastapi', 'uvicorn'], ['redis-server'], 'docs/python.md examples work as written', () => {
  let serve: Serve | undefined;
  let redis: RedisServer | undefined;
  let site: Server | undefined;
  let siteUrl = '';
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-py-docs-'));
  const children: ChildProcess[] = [];

  /** The documented addresses, pointed at this test's sidecar, redis, site and a free metrics port. */
  let sub = (code: string) => code;
  const sidecar = async () => sampleValues(await (await fetch(serve!.metricsUrl)).text());

  function spawnPython(args: string[], cwd: string): { child: ChildProcess; log: () => string } {
    const child = spawn(PYTHON, args, { cwd, env: pythonEnv({ PYTHONPATH: `${pythonEnv().PYTHONPATH}:${cwd}` }), stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8000)));
    child.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8000)));
    children.push(child);
    return { child, log: () => log };
  }

  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }

  beforeAll(async () => {
    serve = await startServe();
    redis = await startRedis();
    site = createServer((req, res) => {
      const pages: Record<string, string> = { '/': '<a href="/track/1">1</a> <a href="/track/2">2</a>', '/track/1': '<h1>One</h1>', '/track/2': '<h1>Two</h1>' };
      res.writeHead(pages[req.url ?? ''] === undefined ? 404 : 200, { 'Content-Type': 'text/html' });
      res.end(`<html><body>${pages[req.url ?? ''] ?? ''}</body></html>`);
    });
    await new Promise<void>((r) => site!.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const metricsPort = await freePort();
    sub = (code) =>
      code
        .replaceAll('http://127.0.0.1:9465', serve!.ingestUrl)
        .replaceAll('redis://127.0.0.1:6379', `redis://127.0.0.1:${redis!.port}`)
        .replaceAll('http://127.0.0.1:8000/', `${siteUrl}/`)
        .replaceAll('start_http_server(9464)', `start_http_server(${metricsPort})`);
  }, 30_000);

  afterAll(async () => {
    await Promise.all(children.map(stop));
    await serve?.stop();
    await redis?.kill();
    site?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('has the examples this test runs', () => {
    expect(blocks.map((b) => b.file ?? 'script')).toEqual(['script', 'app.py', 'settings.py', 'crawl.py', 'tasks.py', 'publish.py', 'script']);
    expect(scripts.every((s) => s.want !== undefined)).toBe(true);
  });

  it.each(scripts.map((s, i) => [i, s] as const))('script %i prints what its # => line says', async (_i, s) => {
    const r = await runPython(['-'], { input: sub(s.code), cwd: dir, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toContain(s.want);
  }, 40_000);

  it("README.md's Python example runs", async () => {
    const readme = /## Instrument a Python worker[\s\S]*?```python\n([\s\S]*?)```/.exec(readFileSync(join(repoRoot, 'README.md'), 'utf8'))?.[1];
    expect(readme).toContain('create_meter(service="crawler")');
    const r = await runPython(['-'], { input: `${sub(readme!)}\nprint(meter.metrics().decode())\n`, cwd: dir, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('scraper_runs_total{outcome="success",scraper="beatport"} 1.0\n');
  }, 40_000);

  it('app.py under uvicorn: /scrape records, /metrics answers text and OpenMetrics', async () => {
    writeFileSync(join(dir, 'app.py'), sub(named('app.py')));
    const port = await freePort();
    const uv = spawnPython(['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'], dir);
    const base = `http://127.0.0.1:${port}`;
    await until('uvicorn to answer', async () => ((await fetch(`${base}/metrics`).catch(() => undefined))?.ok ? true : undefined), 20_000, uv.log);
    expect(await (await fetch(`${base}/scrape`, { method: 'POST' })).json()).toEqual({ items: 1 });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = sampleValues(await res.text());
    expect(m.get(key('scraper_items_created_total', { scraper: 'beatport', item_type: 'track', source: 'www.beatport.com' }))).toBe(1);
    expect(m.get(key('scraper_items_created_total', { scraper: 'beatport', item_type: 'artist', source: '' }))).toBe(0);
    expect(m.get(key('scraper_runs_total', { scraper: 'beatport', outcome: 'success' }))).toBe(1);
    const om = await fetch(`${base}/metrics`, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });
    expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    expect(await om.text()).toMatch(/# EOF\n$/);
    await stop(uv.child);
  }, 40_000);

  it('settings.py holds the same two settings as crawl.py', () => {
    const settings = named('settings.py').split('\n').filter((l) => /^[A-Z_]+ = /.test(l));
    expect(settings).toHaveLength(2);
    for (const line of settings) {
      const [name, value] = line.split(' = ');
      expect(named('crawl.py')).toContain(`"${name}": ${value}`);
    }
  });

  it('crawl.py: a real crawl lands its items and its run in the sidecar', async () => {
    const before = await sidecar();
    writeFileSync(join(dir, 'crawl.py'), sub(named('crawl.py')));
    const r = await runPython(['crawl.py'], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const after = await sidecar();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta(key('scraper_items_created_total', { scraper: 'beatport', item_type: 'track', source: '127.0.0.1' }))).toBe(2);
    expect(delta(key('scraper_runs_total', { scraper: 'beatport', outcome: 'success' }))).toBe(1);
  }, 70_000);

  it('tasks.py and publish.py: a Celery worker runs the task, and the job lands in the sidecar', async () => {
    writeFileSync(join(dir, 'tasks.py'), sub(named('tasks.py')));
    const worker = spawnPython(['-m', 'celery', '-A', 'tasks', 'worker', '--pool=solo', '--loglevel=WARNING', '--without-gossip', '--without-mingle', '--without-heartbeat'], dir);
    const publish = blocks.find((b) => b.file === 'publish.py')!;
    const r = await runPython(['-'], { input: sub(publish.code), cwd: dir, env: { PYTHONPATH: `${pythonEnv().PYTHONPATH}:${dir}` }, timeoutMs: 60_000 });
    expect(r.code, `${r.stderr}\n--- worker ---\n${worker.log()}`).toBe(0);
    expect(r.stdout.trim()).toBe(publish.want);
    const m = await until(
      'the finished job in the sidecar',
      async () => {
        const s = await sidecar();
        return (s.get(key('pipeline_jobs_finished_total', { pipeline: 'images', outcome: 'completed' })) ?? 0) >= 2 ? s : undefined;
      },
      20_000,
      worker.log,
    );
    // One job from the sidecar-client script above, one from this Celery task.
    expect(m.get(key('pipeline_jobs_finished_total', { pipeline: 'images', outcome: 'completed' }))).toBe(2);
    expect(m.get(key('pipeline_stage_duration_seconds_count', { pipeline: 'images', stage: 'upload', outcome: 'success' }))).toBe(1);
    expect(m.get(key('pipeline_queue_wait_seconds_count', { pipeline: 'images' }))).toBe(1);
    await stop(worker.child);
  }, 90_000);
});
