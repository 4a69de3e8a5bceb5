import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, readConfig, startSidecar } from '../../src/sidecar/host.js';
import { createMeter } from '../../src/index.js';
import { PipemeterError } from '../../src/shared/errors.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { fakeClock, sampleLines } from '../sidecar/fixtures.js';
import { builtCli, freePort, promtoolCheckMetrics, which } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-serve-'));
const open: RunningSidecar[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(open.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(yaml: string, clock = fakeClock()): Promise<RunningSidecar> {
  const r = await startSidecar(loadConfig(yaml, 'serve-test.yaml'), {
    metricsPort: 0,
    ingestPort: 0,
    metricsHost: '127.0.0.1',
    drainMs: 2000,
    deps: { meter: createMeter({ defaultMetrics: false }), clock, logger: () => {} },
  });
  open.push(r);
  return r;
}

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });

describe('startSidecar: real listeners on port 0', () => {
  it('serves /metrics and /healthz on one port and the ingest API on the other, then closes both', async () => {
    const r = await start('');
    expect(r.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(r.metricsUrl.replace('/metrics', '/healthz'))).status).toBe(200);
    expect((await fetch(r.metricsUrl.replace('/metrics', '/readyz'))).status).toBe(200);
    const res = await post(`${r.ingestUrl}/v1/events`, { type: 'items', pipeline: 'crawl', outcome: 'indexed', count: 2 });
    expect(await res.json()).toEqual({ accepted: 1, rejected: [] });
    expect(await (await fetch(r.metricsUrl)).text()).toContain('pipeline_items_total{pipeline="crawl",outcome="indexed"} 2\n');
    // The metrics listener does not take events, the ingest listener does not serve metrics.
    expect((await fetch(`${r.ingestUrl}/metrics`)).status).toBe(404);
    await r.close();
    await expect(fetch(r.metricsUrl, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    await expect(post(`${r.ingestUrl}/v1/events`, {})).rejects.toThrow();
  });

  it('close() drains a request in flight before it stops', async () => {
    const r = await start('');
    const url = new URL(`${r.ingestUrl}/v1/events`);
    const body = JSON.stringify({ type: 'items', pipeline: 'slow', outcome: 'indexed' });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      // Half the body now, the rest after close() began: the request is in flight across the shutdown.
      req.write(body.slice(0, 10));
      setTimeout(() => req.end(body.slice(10)), 200);
    });
    await new Promise((res) => setTimeout(res, 50));
    const t0 = Date.now();
    const closed = r.close();
    const got = await answer;
    await closed;
    // Drained, not cut off at drainMs (2 s).
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(got).toEqual({ status: 200, text: '{"accepted":1,"rejected":[]}' });
    expect(sampleLines(await r.meter.metrics(), 'pipeline_items_total{pipeline="slow"')).toEqual(['pipeline_items_total{pipeline="slow",outcome="indexed"} 1']);
  });

  it('a restart mid-crawl keeps the crawl\'s start time (state file on disk)', async () => {
    const yaml = `pipelines:\n  crawl:\n    firecrawl: true\nstate:\n  file: ${join(dir, 'restart', 'state.json')}\n`;
    const clock = fakeClock();
    const a = await start(yaml, clock);
    expect((await post(`${a.ingestUrl}/v1/webhooks/firecrawl/crawl`, { success: true, type: 'crawl.started', id: 'crawl-42', data: [], metadata: { initiated_at: '2024-05-01T11:59:00Z' } })).status).toBe(200);
    await a.close();
    expect(JSON.parse(readFileSync(join(dir, 'restart', 'state.json'), 'utf8')).jobs).toHaveLength(1);

    clock.advance(600_000);
    const b = await start(yaml, clock);
    expect(sampleLines(await b.meter.metrics(), 'pipeline_jobs_in_progress{pipeline="crawl"}')).toEqual(['pipeline_jobs_in_progress{pipeline="crawl"} 1']);
    expect((await post(`${b.ingestUrl}/v1/webhooks/firecrawl/crawl`, { success: true, type: 'crawl.completed', id: 'crawl-42', data: [] })).status).toBe(200);
    expect(
      sampleLines(await b.meter.metrics(), 'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"}', 'pipeline_job_e2e_duration_seconds_sum{pipeline="crawl",outcome="completed"}', 'pipeline_jobs_in_progress{pipeline="crawl"}'),
    ).toEqual([
      'pipeline_jobs_in_progress{pipeline="crawl"} 0',
      'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"} 600',
      'pipeline_job_e2e_duration_seconds_sum{pipeline="crawl",outcome="completed"} 660',
    ]);
  });

  it.each([
    ['a bad request line', 'GARBAGE\r\n\r\n', '400'],
    ['a NUL in a header', 'POST /v1/events HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n', '400'],
    ['headers over the limit', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, '431'],
  ])('a request the HTTP parser refuses (%s) is answered %s and counted', async (_what, raw, status) => {
    const r = await start('');
    const { hostname, port } = new URL(r.ingestUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const sock = connect(Number(port), hostname, () => sock.write(raw));
      sock.setTimeout(5000, () => reject(new Error('no answer in 5 s')));
      sock.on('data', (d) => (text += d));
      sock.on('close', () => resolve(text));
      sock.on('error', reject);
    });
    expect(answer.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    expect(await (await fetch(r.metricsUrl)).text()).toContain('pipemeter_ingest_rejected_total{source="http",reason="bad_request"} 1\n');
  });

  it('a port in use is E_LISTEN, and nothing is left listening', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startSidecar(loadConfig('', 'x.yaml'), { metricsPort: 0, metricsHost: '127.0.0.1', ingestPort: port, deps: { meter: createMeter({ defaultMetrics: false }), logger: () => {} } })).rejects.toThrow(
        new RegExp(`^cannot listen for ingest on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); free the port or set listeners\\.ingest\\.port$`),
      );
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('readConfig: the embedded default without --config; a missing file is E_CONFIG naming it', () => {
    expect(readConfig(undefined).listeners.metrics.port).toBe(9464);
    expect(() => readConfig(join(dir, 'nope.yaml'))).toThrow(PipemeterError);
    expect(() => readConfig(join(dir, 'nope.yaml'))).toThrow(`cannot read the config file "${join(dir, 'nope.yaml')}" (ENOENT); check the path given to --config`);
  });
});

describe('pipemeter serve, the built binary', () => {
  let main = '';

  beforeAll(() => {
    main = builtCli();
    expect(existsSync(main)).toBe(true);
  }, 70_000);

  const cli = (...args: string[]) => spawnSync('node', [main, 'serve', ...args], { encoding: 'utf8', timeout: 15_000 });

  it('--check-config on a valid file: exit 0 and one line', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(join(dir, 'fc-secret'), 'x\n', { mode: 0o600 });
    writeFileSync(file, 'pipelines:\n  crawl:\n    stages: [chunking]\n    firecrawl: { secret_file: fc-secret }\nprobes:\n  - { name: q, url: "http://127.0.0.1:6333/healthz" }\n');
    const r = cli('--config', file, '--check-config');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`pipemeter serve: ${file} is valid (0 scrapers, 1 pipeline, 0 families, 1 probe)\n`);
  });

  it('--check-config on a bad file: exit 2 and every problem as file:line:col', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'listeners:\n  metrics: { port: -1 }\nfamilies:\n  - { name: by_url_total, type: counter, help: X., labels: [source_url] }\n');
    const r = cli('--check-config', '--config', file);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      `pipemeter serve: ${file}: 2 problems in the configuration:`,
      `${file}:2:20: listeners.metrics.port: expected a whole number from 0 to 65535, got -1`,
      `${file}:4:5: families[0]: by_url_total: label "source_url" looks like an id, URL or timestamp and would make the series count unbounded; attach ids as exemplars and reduce URLs to their host`,
      '',
    ]);
  });

  it('--check-config reads the secret files: a missing one is exit 2, resolved from the config\'s directory', () => {
    const file = join(dir, 'nosecret.yaml');
    writeFileSync(file, 'pipelines:\n  crawl:\n    firecrawl: { secret_file: missing-secret }\n');
    const r = cli('--config', file, '--check-config');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`pipemeter serve: ${file}: pipelines.crawl.firecrawl.secret_file: cannot read "${join(dir, 'missing-secret')}"`);
  });

  it.each([
    [['--bogus'], 'pipemeter serve: unknown option "--bogus"; run "pipemeter serve --help" for the options\n'],
    [['--config'], 'pipemeter serve: --config needs a value, e.g. --config config/pipemeter.yaml\n'],
  ])('%j is a usage error, exit 2', (args, err) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(err);
  });

  it('--web.listen-address and --ingest.listen-address set the listeners without a config file; /-/healthy and /-/ready answer', async () => {
    const [metricsPort, ingestPort] = [await freePort(), await freePort()];
    const child = spawn('node', [main, 'serve', `--web.listen-address=127.0.0.1:${metricsPort}`, '--ingest.listen-address', `127.0.0.1:${ingestPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 15_000;
    while (!out.includes('ingest on') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
    expect(out).toContain(`pipemeter serve: metrics on http://127.0.0.1:${metricsPort}/metrics, ingest on http://127.0.0.1:${ingestPort}/v1/events`);
    const base = `http://127.0.0.1:${metricsPort}`;
    for (const [path, body] of [['/-/healthy', 'ok\n'], ['/-/ready', 'ready\n'], ['/healthz', 'ok\n'], ['/readyz', 'ready\n']] as const) {
      const res = await fetch(`${base}${path}`);
      expect([path, res.status, await res.text()]).toEqual([path, 200, body]);
    }
    expect((await post(`http://127.0.0.1:${ingestPort}/v1/events`, { type: 'job_started', pipeline: 'video', job_id: 'v-1' })).status).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('pipeline_jobs_in_progress{pipeline="video"} 1\n');
    // What Prometheus scrapes from the process, prom-client's default collectors included: promtool finds nothing.
    expect(text).toContain('nodejs_active_handles{');
    if (which('promtool') !== undefined || process.env.CI === 'true') expect(promtoolCheckMetrics(text)).toEqual({ code: 0, findings: '' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('a taken --web.listen-address: exit 2, and the hint names the flag, not a config key', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = cli(`--web.listen-address=127.0.0.1:${port}`, '--ingest.listen-address=127.0.0.1:0');
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`pipemeter serve: cannot listen for metrics on 127.0.0.1:${port} (EADDRINUSE); free the port or choose another with --web.listen-address\n`);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('--statsd.listen-udp needs StatsD on in the config', () => {
    const r = cli('--statsd.listen-udp=127.0.0.1:0', '--check-config');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('pipemeter serve: --statsd.listen-udp: StatsD is off in <default config>; set statsd.enabled: true there (with its mappings) to listen for it\n');
  });

  it('--help shows the options and examples', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--check-config');
    expect(r.stdout).toContain('Examples:');
  });

  it.each([['SIGTERM'], ['SIGINT']] as const)('runs, ingests, and on %s drains, writes the state and exits 0', async (signal) => {
    const state = join(dir, `state-${signal}.json`);
    const file = join(dir, `run-${signal}.yaml`);
    writeFileSync(file, `listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\nstate: { file: ${state} }\n`);
    const child = spawn('node', [main, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 10_000;
    while (!/ingest on (\S+)\/v1\/events/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
    const ingest = /ingest on (\S+)\/v1\/events/.exec(out)?.[1];
    const metrics = /metrics on (\S+),/.exec(out)?.[1];
    expect(ingest, `serve did not start: ${out}`).toBeDefined();
    expect((await post(`${ingest}/v1/events`, { type: 'job_started', pipeline: 'video', job_id: 'v-1' })).status).toBe(200);
    expect(await (await fetch(metrics!)).text()).toContain('pipeline_jobs_in_progress{pipeline="video"} 1\n');
    child.kill(signal);
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
    expect(await Promise.race([exited, timeout])).toBe(0);
    expect(out).toContain(`pipemeter serve: ${signal}: draining requests and writing the state\npipemeter serve: stopped\n`);
    expect(JSON.parse(readFileSync(state, 'utf8')).jobs).toMatchObject([{ pipeline: 'video', id: 'v-1' }]);
  });
});
