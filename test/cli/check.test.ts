import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { idShapeOf } from '../../src/check/analyse.js';
import type { CheckReport } from '../../src/check/report.js';
import { checkTargets } from '../../src/check/check.js';
import { checkDefaults, targetUrl } from '../../src/check/settings.js';
import { check } from '../../src/cli/commands/check.js';
import { UsageError } from '../../src/cli/command.js';
import { createMeter } from '../../src/index.js';
import { makeSidecar } from '../sidecar/fixtures.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => readFileSync(new URL(`../fixtures/check/${name}`, import.meta.url), 'utf8');
const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OM = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Everything a test starts; closed after each test, even when it fails. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Stub {
  url: string;
  port: number;
  hits: number;
}

/** stub serves a handler on 127.0.0.1:0 and counts requests. */
async function stub(handler: (req: IncomingMessage, res: ServerResponse, hit: number) => void): Promise<Stub> {
  const s = { url: '', port: 0, hits: 0 };
  const server = createServer((req, res) => handler(req, res, ++s.hits));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.port = (server.address() as AddressInfo).port;
  s.url = `http://127.0.0.1:${s.port}/metrics`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return s;
}

function serveBody(body: string, contentType = TEXT): Promise<Stub> {
  return stub((_req, res) => {
    res.setHeader('Content-Type', contentType);
    res.end(body);
  });
}

/** healthyMeter is a pipemeter meter with a scraper that just succeeded and a pipeline with a finished job. */
async function healthyMeter(opts: { lastSuccessAgoMs?: number } = {}) {
  const m = createMeter({ service: 'check-test', logger: () => {} });
  const s = m.scraper('beatport', { itemTypes: ['track'] });
  s.itemCreated('track', 'https://www.beatport.com/track/x/1', 4);
  s.recordRun({ outcome: 'success', durationSeconds: 12, at: Date.now() - (opts.lastSuccessAgoMs ?? 60_000) });
  const p = m.pipeline('crawl', { stages: ['chunking'] });
  p.recordStarted({ jobId: 'crawl-1', queueWaitSeconds: 1 });
  p.recordFinished({ outcome: 'completed', durationSeconds: 30, jobId: 'crawl-1' });
  const server = await m.serve({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => server.close());
  return server.url;
}

/** fresh puts a last-success timestamp of a minute ago into a fixture, as a live Python scraper would show. */
function fresh(body: string): string {
  const now = (Date.now() / 1000 - 60).toFixed(3);
  return body.replace(/^(scraper_last_success_timestamp_seconds\{[^}]*\}) \S+$/m, `$1 ${now}`);
}

async function runCheck(argv: string[]): Promise<{ code: number; stdout: string; report?: CheckReport }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await check.run(argv, { stdout: out, stderr: err, isTTY: false, env: {} });
  return { code, stdout, report: argv.includes('--json') ? (JSON.parse(stdout) as CheckReport) : undefined };
}

const codesOf = (r: CheckReport, severity?: string) =>
  r.targets.flatMap((t) => t.findings.filter((f) => severity === undefined || f.severity === severity).map((f) => f.code));

describe('pipemeter check (in process)', () => {
  it('passes a healthy pipemeter meter with --catalog: OpenMetrics negotiated, only notes', async () => {
    const url = await healthyMeter();
    const { code, report } = await runCheck([url, '--catalog', '--json']);
    const t = report!.targets[0]!;
    expect(t).toMatchObject({ url, ok: true, reachable: true, status: 200, format: 'openmetrics' });
    expect(t.kinds).toEqual(['scraper', 'pipeline']);
    expect(codesOf(report!, 'error').concat(codesOf(report!, 'warning'))).toEqual([]);
    // Event-driven families absent on this target are notes, e.g. schema errors before the first error.
    expect(t.findings).toContainEqual(expect.objectContaining({ severity: 'note', code: 'absent-until-event', family: 'scraper_schema_errors_total' }));
    expect(t.series).toBeGreaterThan(100);
    expect(t.top.length).toBe(5);
    expect(code).toBe(0);
  });

  it('passes a pipemeter sidecar with --catalog: scraper, pipeline and sidecar kinds (exit 0)', async () => {
    const { sidecar } = makeSidecar('scrapers:\n  beatport: { item_types: [track] }\npipelines:\n  crawl: { stages: [chunking] }\n');
    const s = await stub((req, res) => sidecar.metricsApp(req, res));
    const { code, report } = await runCheck([s.url, '--catalog', '--json']);
    expect(report!.targets[0]).toMatchObject({ ok: true, format: 'openmetrics', kinds: ['scraper', 'pipeline', 'sidecar'] });
    expect(codesOf(report!, 'error').concat(codesOf(report!, 'warning'))).toEqual([]);
    expect(code).toBe(0);
  });

  it("reports what pipemeter itself folded or ignored: overflow and ignored calls are warnings (exit 1)", async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {} });
    const c = m.counter({ name: 'crawl_pages_total', help: 'Pages.', labels: ['host'], maxSeries: 2 });
    for (const host of ['a', 'b', 'c', 'd', 'e']) c.inc({ host });
    c.inc({ host: 'a' }, -1);
    const server = await m.serve({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => server.close());
    const { code, report } = await runCheck([server.url, '--json']);
    const findings = report!.targets[0]!.findings;
    expect(findings.filter((f) => f.severity !== 'note').map((f) => f.code).sort()).toEqual(['instrumentation-errors', 'series-overflow']);
    expect(findings).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'series-overflow', family: 'pipemeter_series_overflow_total', message: expect.stringMatching(/^crawl_pages_total folded 3 recordings into its __overflow__ series/) }));
    expect(findings).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'instrumentation-errors', message: expect.stringMatching(/^1 recording calls were ignored \(negative_increment\)/) }));
    expect(code).toBe(1);
  });

  it('reports events a sidecar refused as notes (exit 0), and StatsD datagrams the kernel dropped as a warning (exit 1)', async () => {
    const { sidecar } = makeSidecar('statsd:\n  enabled: true\n');
    sidecar.handleStatsdPacket!(Buffer.from('not a statsd line\nunmapped.name:1|c'));
    const s = await stub((req, res) => sidecar.metricsApp(req, res));
    const quiet = await runCheck([s.url, '--json']);
    const notes = quiet.report!.targets[0]!.findings.filter((f) => f.code === 'ingest-rejected');
    expect(notes.map((f) => [f.severity, f.message])).toEqual([
      ['note', 'the sidecar refused 1 StatsD line (reason malformed_line) since the process started; it logged the first one with the fix'],
      ['note', 'the sidecar refused 1 StatsD line (reason unmapped) since the process started; it logged the first one with the fix'],
    ]);
    expect(quiet.code).toBe(0);
    // The table names each refusal by what and why, not the family once per note.
    const human = await runCheck([s.url]);
    expect(human.stdout).toContain('  note ingest-rejected: the sidecar refused 1 StatsD line (reason malformed_line) since the process started');
    expect(human.stdout).toContain('  note ingest-rejected: the sidecar refused 1 StatsD line (reason unmapped) since the process started');
    expect(human.stdout).not.toMatch(/note ingest-rejected: pipemeter_ingest_rejected_total/);
    sidecar.recordStatsdKernelDrops!(42);
    const dropped = await runCheck([s.url, '--json']);
    expect(dropped.report!.targets[0]!.findings).toContainEqual(
      expect.objectContaining({ severity: 'warning', code: 'statsd-dropped', message: expect.stringMatching(/^the kernel dropped 42 StatsD datagrams/) }),
    );
    expect(dropped.code).toBe(1);
  });

  it('names the events refused on the ingest API in words, in the plural when there are several', async () => {
    const { sidecar } = makeSidecar('scrapers:\n  beatport: { item_types: [track] }\n');
    const s = await stub((req, res) => (req.url === '/v1/events' ? sidecar.ingestApp(req, res) : sidecar.metricsApp(req, res)));
    const bad = Array.from({ length: 4 }, () => JSON.stringify({ type: 'item_created', scraper: 'nobody', item_type: 'track' })).join('\n');
    await fetch(`http://127.0.0.1:${s.port}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: bad });
    const { report } = await runCheck([s.url, '--json']);
    const notes = report!.targets[0]!.findings.filter((f) => f.code === 'ingest-rejected').map((f) => f.message);
    expect(notes).toEqual([expect.stringMatching(/^the sidecar refused 4 events sent to POST \/v1\/events \(reason \w+\) since the process started/)]);
  });

  it('names an OpenMetrics counter family one way in every finding and in top: with _total', async () => {
    const body = [
      '# TYPE scrape_requests counter',
      '# HELP scrape_requests Requests.',
      'scrape_requests_total{request_id="r-1"} 1',
      'scrape_requests_total{request_id="r-2"} 1',
      'scrape_requests_total{request_id="r-2"} 1',
      '# EOF',
      '',
    ].join('\n');
    const s = await serveBody(body, OM);
    const { report } = await runCheck([s.url, '--json']);
    const t = report!.targets[0]!;
    expect(t.findings.map((f) => [f.code, f.family])).toEqual([
      ['duplicate-series', 'scrape_requests_total'],
      ['id-like-label', 'scrape_requests_total'],
    ]);
    expect(t.findings[1]!.message).toMatch(/^label "request_id" of scrape_requests_total /);
    expect(t.top).toEqual([{ family: 'scrape_requests_total', series: 3 }]);
  });

  it('reports a broken exposition with the line of the problem (exit 1)', async () => {
    const body = '# HELP scraper_items_created_total Items.\n# TYPE scraper_items_created_total counter\nscraper_items_created_total{scraper="a",item_type="track"} 1\nscraper_items_created_total{scraper="a" item_type="page"} 2\n';
    const s = await serveBody(body);
    const json = await runCheck([s.url, '--json']);
    expect(json.code).toBe(1);
    expect(json.report!.targets[0]!.findings).toContainEqual(expect.objectContaining({ severity: 'error', code: 'syntax', line: 4 }));
    const human = await runCheck([s.url]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/FINDINGS/);
    expect(human.stdout).toMatch(/\n {2}error\s+syntax\s+line 4\s+column \d+: expected "," or "}" after the value of label "scraper"/);
    expect(human.stdout).not.toContain('\u001b[');
  });

  it.each([
    [true, {}, true],
    [true, { NO_COLOR: '1' }, false],
    [false, {}, false],
  ])('colours the table only on a TTY (isTTY %s, env %j): %s', async (isTTY, env, coloured) => {
    const s = await serveBody('# TYPE a gauge\na{x="1"} one\n');
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const code = await check.run([s.url], { stdout: out, stderr: new PassThrough(), isTTY, env });
    expect(code).toBe(1);
    expect(text.includes('\u001b[31merror\u001b[0m')).toBe(coloured);
    expect(text.replace(/\u001b\[\d+m/g, '')).toMatch(/\n {2}error\s+invalid-value\s+line 2\s+column 13: "one" is not a number/);
  });

  it('reports an id label by name and its UUID values (exit 1)', async () => {
    const body = [
      '# HELP crawl_pages_total Pages crawled.',
      '# TYPE crawl_pages_total counter',
      'crawl_pages_total{crawl_id="3f2b6c1e-8a4d-4c7e-9b1a-2d5e6f7a8b9c",status="ok"} 12',
      'crawl_pages_total{crawl_id="9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d",status="ok"} 4',
      '# HELP http_requests_total Requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{path="https://example.com/users/1/orders"} 1',
      'http_requests_total{path="https://example.com/users/2/orders"} 1',
      '',
    ].join('\n');
    const s = await serveBody(body);
    const { code, report } = await runCheck([s.url, '--json']);
    expect(code).toBe(1);
    const f = report!.targets[0]!.findings;
    expect(f).toContainEqual(expect.objectContaining({ code: 'id-like-label', family: 'crawl_pages_total', label: 'crawl_id', severity: 'warning' }));
    expect(f).toContainEqual(expect.objectContaining({ code: 'unbounded-label-values', family: 'http_requests_total', label: 'path' }));
    expect(f.find((x) => x.label === 'path')!.message).toMatch(/URLs with a path/);
    expect(f.filter((x) => x.label === 'status')).toEqual([]);
  });

  it('reports a stale scraper last success; a wider --max-age passes it', async () => {
    const url = await healthyMeter({ lastSuccessAgoMs: 3 * 3600_000 });
    const stale = await runCheck([url, '--json']);
    expect(stale.code).toBe(1);
    const finding = stale.report!.targets[0]!.findings.find((f) => f.code === 'stale-last-success');
    expect(finding).toMatchObject({ severity: 'warning', family: 'scraper_last_success_timestamp_seconds' });
    expect(finding!.message).toMatch(/scraper="beatport".*3h(\d+s)? ago.*older than --max-age 2h/);
    expect((await runCheck([url, '--max-age', '4h'])).code).toBe(0);
  });

  it.each([
    ['python-client.txt', TEXT, 'text'],
    ['python-client-om.txt', OM, 'openmetrics'],
  ] as const)('passes a Python prometheus_client scraper (%s) with --catalog (exit 0)', async (name, contentType, format) => {
    const s = await serveBody(fresh(fixture(name)), contentType);
    const { code, report } = await runCheck([s.url, '--catalog', '--json']);
    const t = report!.targets[0]!;
    expect(t.findings.filter((f) => f.severity !== 'note')).toEqual([]);
    expect(t).toMatchObject({ ok: true, format, kinds: ['scraper'] });
    expect(code).toBe(0);
  });

  it('flags catalog drift: a source_url label, a counter typed as gauge, a family a scraper always has', async () => {
    const body = [
      '# HELP scraper_items_created_total Items.',
      '# TYPE scraper_items_created_total counter',
      'scraper_items_created_total{scraper="s",item_type="track",source_url="a.com"} 1',
      '# HELP scraper_runs_total Runs.',
      '# TYPE scraper_runs_total gauge',
      'scraper_runs_total{scraper="s",outcome="success"} 1',
      '',
    ].join('\n');
    const s = await serveBody(body);
    const { code, report } = await runCheck([s.url, '--catalog', '--json']);
    expect(code).toBe(1);
    const f = report!.targets[0]!.findings;
    expect(f).toContainEqual(expect.objectContaining({ code: 'catalog-labels', family: 'scraper_items_created_total' }));
    expect(f).toContainEqual(expect.objectContaining({ code: 'catalog-type', family: 'scraper_runs_total' }));
    expect(f).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'missing-family', family: 'scraper_run_duration_seconds' }));
    expect(f).toContainEqual(expect.objectContaining({ severity: 'note', code: 'absent-until-event', family: 'scraper_last_success_timestamp_seconds' }));
  });

  it('knows an HTTP server by meter.http(): kind http, static labels accepted, a family without route is drift', async () => {
    const m = createMeter({ service: 'api', defaultMetrics: false, logger: () => {} });
    const mw = m.http({ labels: { service: 'api' } });
    const metrics = m.router();
    const s = await stub((req, res) => mw(req, res, () => metrics(req, res)));
    await fetch(s.url.replace('/metrics', '/items/1'));
    const { code, report } = await runCheck([s.url, '--catalog', '--json']);
    expect(report!.targets[0]!.kinds).toEqual(['http']);
    expect(codesOf(report!, 'error').concat(codesOf(report!, 'warning'))).toEqual([]);
    expect(code).toBe(0);

    const drift = await serveBody(
      ['# TYPE http_server_request_duration_seconds histogram', 'http_server_request_duration_seconds_count{method="GET",status_code="200",path="/items/1"} 1', 'http_server_request_duration_seconds_sum{method="GET",status_code="200",path="/items/1"} 0.1', ''].join('\n'),
    );
    const r2 = await runCheck([drift.url, '--catalog', '--json']);
    expect(r2.report!.targets[0]!.kinds).toEqual(['http']);
    expect(r2.report!.targets[0]!.findings).toContainEqual(
      expect.objectContaining({ severity: 'warning', code: 'catalog-labels', family: 'http_server_request_duration_seconds', message: expect.stringContaining('missing "route"') }),
    );
    expect(r2.report!.targets[0]!.findings).toContainEqual(expect.objectContaining({ severity: 'note', code: 'absent-until-event', family: 'http_server_active_requests' }));
  });

  it('writes the --json shape docs/check.md documents: same keys, key order, findings by severity', async () => {
    const doc = readFileSync(`${repo}docs/check.md`, 'utf8');
    const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(doc)![1]!) as CheckReport;
    const s = await serveBody(fresh(fixture('python-client.txt')) + 'crawl_pages_total{crawl_id="3f2b6c1e-8a4d-4c7e-9b1a-2d5e6f7a8b9c"} 1\na 1\na 2\n');
    const closed = await stub(() => {});
    await cleanups.pop()!();
    const { report } = await runCheck([s.url, closed.url, '--catalog', '--retries', '0', '--json']);
    const keys = (o: object) => Object.keys(o);
    expect(keys(report!)).toEqual(keys(example));
    expect(report!.targets.map(keys)).toEqual(example.targets.map(keys));
    const order = ['severity', 'code', 'family', 'label', 'line', 'message'];
    const documented = example.targets.flatMap((t) => t.findings.map(keys));
    const written = report!.targets.flatMap((t) => t.findings.map(keys));
    for (const k of [...documented, ...written]) expect(k).toEqual(order.filter((o) => k.includes(o)));
    const rank = { error: 0, warning: 1, note: 2 };
    for (const t of report!.targets) {
      const ranks = t.findings.map((f) => rank[f.severity]);
      expect(ranks).toEqual([...ranks].sort());
    }
    expect(new Set(written.flat())).toEqual(new Set(order));
  });

  it('reports families over --max-series and lists the top families', async () => {
    const lines = ['# HELP big Big.', '# TYPE big gauge', ...[1, 2, 3, 4].map((i) => `big{shard="${i}"} 1`), '# HELP small Small.', '# TYPE small gauge', 'small 1', ''];
    const s = await serveBody(lines.join('\n'));
    const { code, report } = await runCheck([s.url, '--max-series', '3', '--top', '1', '--json']);
    expect(code).toBe(1);
    expect(report!.targets[0]!.top).toEqual([{ family: 'big', series: 4 }]);
    expect(report!.targets[0]!.series).toBe(5);
    expect(codesOf(report!)).toEqual(['too-many-series']);
  });

  it('exits 2 for an unreachable port, and reports the other targets too', async () => {
    const closed = await stub(() => {});
    await cleanups.pop()!();
    const good = await serveBody(fixture('prom-client-defaults.txt'));
    const { code, report } = await runCheck([closed.url, good.url, '--retries', '0', '--json']);
    expect(code).toBe(2);
    expect(report!.targets.map((t) => [t.reachable, t.ok])).toEqual([
      [false, false],
      [true, true],
    ]);
    expect(report!.targets[0]!.findings[0]!.message).toMatch(/connection refused/);
  });

  it('retries a 503 with backoff and then passes', async () => {
    const s = await stub((_req, res, hit) => {
      res.statusCode = hit === 1 ? 503 : 200;
      res.end(hit === 1 ? 'busy' : '# TYPE up gauge\nup 1\n');
    });
    const { code } = await runCheck([s.url, '--retries', '2']);
    expect(s.hits).toBe(2);
    expect(code).toBe(0);
  });

  it('does not retry a 404 and counts it as unreachable (exit 2)', async () => {
    const s = await stub((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    const { code, report } = await runCheck([s.url, '--retries', '2', '--json']);
    expect(s.hits).toBe(1);
    expect(code).toBe(2);
    expect(report!.targets[0]).toMatchObject({ reachable: false, status: 404 });
  });

  it('gives up on a target that never answers after --timeout per attempt (exit 2)', async () => {
    const s = await stub(() => {});
    const t0 = Date.now();
    const { code, report } = await runCheck([s.url, '--timeout', '300ms', '--retries', '1', '--json']);
    expect(code).toBe(2);
    expect(s.hits).toBe(2);
    expect(report!.targets[0]!.findings[0]!.message).toMatch(/within 300ms \(after 2 attempts\)/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it.each([
    ['plain', false],
    ['gzip', true],
  ])('refuses a %s body over maxBodyBytes instead of filling memory', async (_name, gzipped) => {
    const body = fixture('prom-client-defaults.txt');
    const s = await stub((_req, res) => {
      res.setHeader('Content-Type', TEXT);
      if (gzipped) res.setHeader('Content-Encoding', 'gzip');
      res.end(gzipped ? gzipSync(body) : body);
    });
    const small = await checkTargets({ ...checkDefaults, urls: [s.url], retries: 0, maxBodyBytes: 1000 });
    expect(small.targets[0]).toMatchObject({ reachable: false, status: 200 });
    expect(small.targets[0]!.findings[0]!.message).toMatch(/over 1000 bytes/);
    const enough = await checkTargets({ ...checkDefaults, urls: [s.url], retries: 0, maxBodyBytes: body.length });
    expect(enough.targets[0]).toMatchObject({ reachable: true, ok: true });
  });

  it('sends the Accept header Prometheus sends, OpenMetrics first', async () => {
    let accept = '';
    const s = await stub((req, res) => {
      accept = String(req.headers.accept);
      res.end('up 1\n');
    });
    await runCheck([s.url]);
    expect(accept.split(',')[0]).toBe('application/openmetrics-text;version=1.0.0');
    expect(accept).toContain('text/plain;version=0.0.4;q=0.5');
  });

  it.each([
    [[], /at least one target/],
    [['http://x', '--max-series', 'many'], /--max-series needs a whole number/],
    [['http://x', '--max-age', '2 hours'], /--max-age needs a duration/],
    [['http://x', '--timeout'], /--timeout needs a value/],
    [['http://x', '--retries', '-1'], /--retries needs a whole number/],
    [['http://x', '--frobnicate'], /unknown option "--frobnicate"/],
    [['ftp://x/metrics'], /only http and https/],
    [['http://x', '--json=yes'], /--json takes no value/],
  ])('refuses %j with a usage error', async (argv, message) => {
    await expect(check.run(argv, { stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false, env: {} })).rejects.toThrow(UsageError);
    await expect(check.run(argv, { stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false, env: {} })).rejects.toThrow(message);
  });

  it.each([
    ['localhost:9464', 'http://localhost:9464/metrics'],
    ['http://w:8000', 'http://w:8000/metrics'],
    ['https://w/custom/path', 'https://w/custom/path'],
  ])('target %s is fetched as %s', (input, want) => expect(targetUrl(input)).toBe(want));
  it.each([
    ['3f2b6c1e-8a4d-4c7e-9b1a-2d5e6f7a8b9c', 'UUIDs'],
    ['d41d8cd98f00b204e9800998ecf8427e', 'hashes or hex ids'],
    ['184467440737', 'numeric ids'],
    ['https://www.beatport.com/track/x/1', 'URLs with a path'],
    ['/api/items/12345/details', 'paths with an id segment'],
    ['someone@example.com', 'e-mail addresses'],
    ['2026-11-25T18:00:00Z', 'timestamps'],
    ['1764093600', 'timestamps'],
    ['www.beatport.com', undefined],
    ['https://www.beatport.com/', undefined],
    ['track', undefined],
    ['200', undefined],
    ['v20.20.2', undefined],
    ['deadbeef', undefined],
    ['http_error', undefined],
  ])('label value %s looks like %s', (value, want) => expect(idShapeOf(value)).toBe(want));
});

describe('pipemeter check with credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-check-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };

  /** guarded answers 200 with a small exposition to the one Authorization it expects, 401 otherwise, and records what came. */
  async function guarded(expected: string) {
    const seen: (string | undefined)[] = [];
    const s = await stub((req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== expected) {
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', 'Basic realm="metrics"');
        res.end('unauthorized\n');
        return;
      }
      res.setHeader('Content-Type', TEXT);
      res.end('# HELP up_ok Up.\n# TYPE up_ok gauge\nup_ok 1\n');
    });
    return { ...s, seen };
  }

  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('sends the URL\'s user and password as Basic auth (percent-decoded) and prints user:*** in text and JSON (exit 0)', async () => {
    const s = await guarded(basic('scrape', 'p@ss:w/rd'));
    const url = `http://scrape:p%40ss%3Aw%2Frd@127.0.0.1:${s.port}/metrics`;
    const json = await runCheck([url, '--json']);
    expect(json.code).toBe(0);
    expect(json.report!.targets[0]).toMatchObject({ url: `http://scrape:***@127.0.0.1:${s.port}/metrics`, ok: true });
    const human = await runCheck([url]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`http://scrape:***@127.0.0.1:${s.port}/metrics  OK`);
    for (const out of [json.stdout, human.stdout]) expect(out).not.toMatch(/p%40ss|p@ss|w%2Frd/);
    expect(s.seen).toEqual([basic('scrape', 'p@ss:w/rd'), basic('scrape', 'p@ss:w/rd')]);
  });

  it('reports refused credentials as unreachable, says they were refused, and still prints no password (exit 2)', async () => {
    const s = await guarded(basic('scrape', 'right'));
    const { code, stdout, report } = await runCheck([`http://scrape:wrong-secret@127.0.0.1:${s.port}/metrics`, '--retries', '0', '--json']);
    expect(code).toBe(2);
    expect(report!.targets[0]).toMatchObject({ reachable: false, status: 401 });
    expect(report!.targets[0]!.findings[0]!.message).toMatch(/^HTTP 401; .*the Basic credentials sent were refused/);
    expect(stdout).not.toContain('wrong-secret');
  });

  it('says how to send credentials when a target answers 401 to none', async () => {
    const s = await guarded(basic('a', 'b'));
    const { report } = await runCheck([s.url, '--retries', '0', '--json']);
    expect(report!.targets[0]!.findings[0]!.message).toMatch(/wants credentials: put them in the URL \(http:\/\/user:password@host\/metrics\) or pass --bearer-token-file FILE/);
  });

  it('sends --bearer-token-file as Bearer auth to every target, the file\'s whitespace trimmed, and never prints the token', async () => {
    const [a, b] = [await guarded('Bearer tok-8f3a.secret'), await guarded('Bearer tok-8f3a.secret')];
    const token = file('token', '  tok-8f3a.secret\n');
    const { code, stdout } = await runCheck([a.url, b.url, '--bearer-token-file', token]);
    expect(code).toBe(0);
    expect([a.seen, b.seen]).toEqual([['Bearer tok-8f3a.secret'], ['Bearer tok-8f3a.secret']]);
    expect(stdout).not.toContain('tok-8f3a');
  });

  it.each([
    ['a missing file', () => [`http://x`, '--bearer-token-file', join(dir, 'nope')], /cannot read --bearer-token-file ".*nope" \(ENOENT\)/],
    ['an empty file', () => [`http://x`, '--bearer-token-file', file('empty', '\n')], /--bearer-token-file ".*empty" is empty/],
    ['a file of two lines', () => [`http://x`, '--bearer-token-file', file('two', 'tok-1\ntok-2\n')], /holds more than the token/],
    ['URL credentials and a token file', () => ['http://u:hunter2@x/metrics', '--bearer-token-file', file('t', 'tok')], /^http:\/\/u:\*\*\*@x\/metrics has credentials in its URL and --bearer-token-file is given/],
    ['a URL that does not parse', () => ['http://u:hunter2@[x/metrics'], /^"http:\/\/u:\*\*\*@\[x\/metrics" is not a URL/],
  ])('refuses %s with a usage error that prints no secret', async (_what, argv, message) => {
    const err = await check.run(argv(), { stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/hunter2|tok-1|tok-2/);
  });
});

describe('pipemeter check (the built CLI as a process)', () => {
  // A private build of the same tsconfig.build.json as `npm run build`, so a concurrent build of dist/ cannot race this test.
  const outDir = `${repo}tmp/check-cli-${process.pid}`;
  const main = `${outDir}/cli/main.js`;

  beforeAll(() => {
    const r = spawnSync(process.execPath, [`${repo}node_modules/typescript/bin/tsc`, '-p', `${repo}tsconfig.build.json`, '--outDir', outDir], { encoding: 'utf8', timeout: 60_000 });
    // Type errors in other in-progress files still emit; only a missing entry point is fatal here.
    if (!existsSync(main)) throw new Error(`building the CLI failed:\n${r.stdout}${r.stderr}`);
  });
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, NO_COLOR: '1' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  it('exits 0 against a healthy meter, 1 against a broken exposition, 2 against a closed port', async () => {
    const url = await healthyMeter();
    const broken = await serveBody('# TYPE a gauge\na{x="1"} one\n');
    const closed = await stub(() => {});
    await cleanups.pop()!();
    const [ok, bad, down] = await Promise.all([cli(['check', url, '--catalog']), cli(['check', broken.url, '--json']), cli(['check', closed.url, '--retries', '0'])]);
    expect(ok.stdout).toMatch(/OK/);
    expect(ok.code).toBe(0);
    expect(JSON.parse(bad.stdout).targets[0].findings).toContainEqual(expect.objectContaining({ code: 'invalid-value', line: 2 }));
    expect(bad.code).toBe(1);
    expect(down.stdout).toMatch(/UNREACHABLE/);
    expect(down.code).toBe(2);
  });

  it('prints no password on stdout or stderr, for a target down and for one that is not a URL', async () => {
    const closed = await stub(() => {});
    await cleanups.pop()!();
    const [down, bad] = await Promise.all([cli(['check', `http://ops:s3cr3t-pw@127.0.0.1:${closed.port}/metrics`, '--retries', '0']), cli(['check', 'http://ops:s3cr3t-pw@[bad'])]);
    expect(down.code).toBe(2);
    expect(down.stdout).toContain(`http://ops:***@127.0.0.1:${closed.port}/metrics  UNREACHABLE`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^pipemeter check: "http:\/\/ops:\*\*\*@\[bad" is not a URL/);
    for (const out of [down.stdout, down.stderr, bad.stdout, bad.stderr]) expect(out).not.toContain('s3cr3t');
  });

  it('prints help with examples (exit 0) and a usage error without a stack (exit 2)', async () => {
    const help = await cli(['check', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:\n {2}pipemeter check/);
    const usage = await cli(['check', '--max-age', 'soon', 'localhost:1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('pipemeter check: --max-age needs a duration such as 500ms, 5s, 2h or 1h30m, got "soon"\n');
  });
});
