/** Security: loopback by default, constant-time secrets, signatures before parsing, no secret in any output, a per-client rate limit. */
import * as crypto from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/host.js';
import { createMeter } from '../../src/index.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { signBody } from '../../src/sidecar/firecrawl.js';
import { RateLimiter } from '../../src/sidecar/rate-limit.js';
import { makeSidecar, memoryFs, sampleLines } from '../sidecar/fixtures.js';

vi.mock('node:crypto', async (importOriginal) => {
  const m = await importOriginal<typeof import('node:crypto')>();
  return { ...m, timingSafeEqual: vi.fn(m.timingSafeEqual) };
});

const TOKEN = 'ingest-token-7c1d9e';
const SECRET = 'firecrawl-secret-5b2a8f';
const dir = mkdtempSync(join(tmpdir(), 'pipemeter-security-'));
const open: RunningSidecar[] = [];
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(yaml: string, logs: string[] = []): Promise<RunningSidecar> {
  const r = await startSidecar(loadConfig(yaml, 'security.yaml'), {
    metricsPort: 0,
    ingestPort: 0,
    metricsHost: '127.0.0.1',
    drainMs: 1000,
    deps: { meter: createMeter({ defaultMetrics: false, logger: (m) => logs.push(m) }), logger: (m) => logs.push(m) },
  });
  open.push(r);
  return r;
}

describe('ingest is bound to loopback by default', () => {
  it('a sidecar started from an empty config listens for events on 127.0.0.1 only', async () => {
    const r = await start('');
    expect(new URL(r.ingestUrl).hostname).toBe('127.0.0.1');
  });
});

describe('the Bearer token is compared in constant time', () => {
  const yaml = 'listeners:\n  ingest: { token_file: /token }\n';
  const spy = vi.mocked(crypto.timingSafeEqual);

  it.each([
    ['the right token', TOKEN, 200],
    ['a wrong token of the same length', TOKEN.replace(/.$/, 'x'), 401],
    ['a prefix of the token', TOKEN.slice(0, 10), 401],
    ['the token and more', TOKEN + 'extra', 401],
    ['a 10 000 character token', 'x'.repeat(10_000), 401],
    ['a token with Latin-1 letters', 'tökén', 401],
  ])('%s: compared as two 32-byte SHA-256 digests, answered %s', async (_what, sent, status) => {
    const t = makeSidecar(yaml, { fs: memoryFs({ '/token': TOKEN + '\n' }) });
    spy.mockClear();
    const res = await request(t.sidecar.ingestApp).post('/v1/events').set('Authorization', `Bearer ${sent}`).send({ type: 'items', pipeline: 'p', outcome: 'x' }).expect(status);
    // Equal-length digests: timingSafeEqual never throws and the time does not depend on where the bytes differ, nor on the length sent.
    expect(spy).toHaveBeenCalledTimes(1);
    const [a, b] = spy.mock.calls[0]!;
    expect([a.byteLength, b.byteLength]).toEqual([32, 32]);
    if (status === 401) {
      expect(res.body.error.code).toBe('E_UNAUTHORIZED');
      expect(JSON.stringify(res.body)).not.toContain(sent.slice(0, 40));
    }
  });

  it.each([['no header', undefined], ['Basic auth', `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`], ['a bare token', TOKEN], ['Bearer with nothing', 'Bearer ']])('%s: 401, counted', async (_what, header) => {
    const t = makeSidecar(yaml, { fs: memoryFs({ '/token': TOKEN }) });
    let req = request(t.sidecar.ingestApp).post('/v1/events');
    if (header !== undefined) req = req.set('Authorization', header);
    await req.send({ type: 'items', pipeline: 'p', outcome: 'x' }).expect(401);
    expect(sampleLines(await t.sidecar.meter.metrics(), 'pipemeter_ingest_rejected_total')).toEqual(['pipemeter_ingest_rejected_total{source="events",reason="unauthorized"} 1']);
  });
});

describe('webhook signatures are checked before the body is parsed', () => {
  it('a body with a wrong signature never reaches JSON.parse; the same body signed does', async () => {
    const t = makeSidecar('pipelines:\n  crawl: { firecrawl: { secret_file: /s } }\n', { fs: memoryFs({ '/s': SECRET }) });
    const body = JSON.stringify({ success: true, type: 'crawl.started', id: 'sig-probe-1', data: [] });
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const http = request(t.sidecar.ingestApp);
      await http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').set('X-Firecrawl-Signature', signBody(body, 'wrong')).send(body).expect(401);
      expect(parse.mock.calls.filter(([s]) => typeof s === 'string' && s.includes('sig-probe-1'))).toEqual([]);
      await http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').set('X-Firecrawl-Signature', signBody(body, SECRET)).send(body).expect(200);
      expect(parse.mock.calls.filter(([s]) => typeof s === 'string' && s.includes('sig-probe-1'))).toHaveLength(1);
    } finally {
      parse.mockRestore();
    }
  });
});

describe('secrets never appear in logs, /metrics, the landing page, answers or the state file', () => {
  it('a sidecar with a token and a webhook secret, driven through every refusal and a failing state write', async () => {
    writeFileSync(join(dir, 'token'), TOKEN + '\n');
    writeFileSync(join(dir, 'secret'), SECRET + '\n');
    const state = join(dir, 'state.json');
    const logs: string[] = [];
    const r = await start(
      `listeners:\n  ingest: { token_file: ${join(dir, 'token')} }\npipelines:\n  crawl: { firecrawl: { secret_file: ${join(dir, 'secret')} } }\nprobes:\n  - { name: down, url: "http://127.0.0.1:1/health", interval: 1s, timeout: 100ms }\nstate: { file: ${state} }\n`,
      logs,
    );
    const seen: string[] = [];
    const keep = async (res: Response) => {
      seen.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
    };
    const ev = { type: 'job_started', pipeline: 'crawl', job_id: 'c-1' };
    const post = (path: string, body: string, headers: Record<string, string>) => fetch(r.ingestUrl + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(5000) }).then(keep);
    await post('/v1/events', JSON.stringify(ev), { authorization: `Bearer ${TOKEN}` });
    await post('/v1/events', JSON.stringify(ev), { authorization: `Bearer ${TOKEN}x` });
    await post('/v1/events', JSON.stringify(ev), { authorization: `Bearer ${TOKEN.slice(0, -1)}` });
    await post('/v1/events', '{"type":', { authorization: `Bearer ${TOKEN}` });
    await post('/v1/events', JSON.stringify({ type: 'metric', name: 'nope_total' }), { authorization: `Bearer ${TOKEN}` });
    const hook = JSON.stringify({ success: true, type: 'crawl.started', id: 'c-2', data: [], metadata: { note: SECRET.slice(0, 8) } });
    await post('/v1/webhooks/firecrawl/crawl', hook, { 'x-firecrawl-signature': signBody(hook, SECRET) });
    await post('/v1/webhooks/firecrawl/crawl', hook, { 'x-firecrawl-signature': signBody(hook, SECRET + 'x') });
    await post('/v1/webhooks/firecrawl/crawl', hook, {});
    await new Promise((res) => setTimeout(res, 300));
    // A state write that fails (a directory where the file goes), and one that works.
    mkdirSync(join(state, 'blocker'), { recursive: true });
    await r.sidecar.snapshot();
    rmSync(state, { recursive: true });
    expect(logs.some((l) => l.includes('could not write the state file'))).toBe(true);
    const base = r.metricsUrl.replace('/metrics', '');
    for (const [path, accept] of [['/metrics', 'text/plain'], ['/metrics', 'application/openmetrics-text; version=1.0.0'], ['/', 'text/html'], ['/healthz', '*/*'], ['/readyz', '*/*'], ['/nope', '*/*']]) {
      await keep(await fetch(base + path!, { headers: { accept: accept! }, signal: AbortSignal.timeout(5000) }));
    }
    await r.close();
    const everything = [...seen, ...logs, readFileSync(state, 'utf8')].join('\n');
    expect(seen.filter((s) => s.startsWith('200')).length).toBeGreaterThanOrEqual(6);
    expect(logs.some((l) => l.includes('probe down'))).toBe(true);
    for (const secret of [TOKEN, SECRET, TOKEN.slice(0, 12), SECRET.slice(0, 12)]) expect(everything.split('\n').filter((l) => l.includes(secret))).toEqual([]);
  });
});

describe('the request rate per client is bounded', () => {
  it.each([
    ['a burst is allowed at once', { perSecond: 10, burst: 5 }, [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    ['past the burst: the wait until a token is back', { perSecond: 10, burst: 2 }, [0, 0, 0, 0], [0, 0, 100, 100]],
    ['tokens come back at the rate', { perSecond: 10, burst: 2 }, [0, 0, 0, 100, 100, 250], [0, 0, 100, 0, 100, 0]],
    ['never more than the burst after a long quiet', { perSecond: 1000, burst: 3 }, [0, 60_000, 60_000, 60_000, 60_000], [0, 0, 0, 0, 1]],
    ['a fractional rate', { perSecond: 0.5, burst: 1 }, [0, 0, 1000, 2000], [0, 2000, 1000, 0]],
  ])('%s', (_what, o, times, want) => {
    let now = 0;
    const l = new RateLimiter({ ...o, maxClients: 10 }, () => now);
    const got = times.map((t) => {
      now = t;
      return l.take('a');
    });
    expect(got).toEqual(want);
  });

  it('one client per bucket; past max_clients the longest-tracked is forgotten, so memory stays capped (1 000 000 addresses)', () => {
    let now = 0;
    const l = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 1000 }, () => now);
    expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBeGreaterThan(0);
    expect(l.take('b')).toBe(0);
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) l.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(l.clients).toBe(1000);
    // "a" was forgotten: it comes back with a full bucket.
    now = 1;
    expect(l.take('a')).toBe(0);
  });

  function postFrom(url: string, localAddress: string, headers: Record<string, string> = {}, path = '/v1/events'): Promise<{ status: number; retryAfter?: string; body: string }> {
    const u = new URL(url + path);
    const body = JSON.stringify({ type: 'items', pipeline: 'p', outcome: 'x' });
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: text }));
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.end(body);
    });
  }

  it('past the burst a client gets 429 with Retry-After, counted; another address and X-Forwarded-For do not share or escape its bucket', async () => {
    const r = await start('pipelines:\n  crawl: { firecrawl: true }\nlimits: { rate: { per_second: 1, burst: 3 } }\n');
    const a = [];
    for (let i = 0; i < 5; i++) a.push(await postFrom(r.ingestUrl, '127.0.0.1'));
    expect(a.map((x) => x.status)).toEqual([200, 200, 200, 429, 429]);
    expect(a[3]!.retryAfter).toBe('1');
    expect(JSON.parse(a[3]!.body).error).toMatchObject({ code: 'E_RATE_LIMITED' });
    expect(JSON.parse(a[3]!.body).error.message).toContain('limits.rate');
    // A spoofed forwarding header does not buy a fresh bucket.
    expect((await postFrom(r.ingestUrl, '127.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
    // The webhook route shares the client's bucket.
    expect((await postFrom(r.ingestUrl, '127.0.0.1', {}, '/v1/webhooks/firecrawl/crawl')).status).toBe(429);
    // Another address has its own bucket.
    expect((await postFrom(r.ingestUrl, '127.0.0.2')).status).toBe(200);
    const text = await r.meter.metrics();
    expect(sampleLines(text, 'pipemeter_ingest_rejected_total')).toEqual([
      'pipemeter_ingest_rejected_total{source="events",reason="rate_limited"} 3',
      'pipemeter_ingest_rejected_total{source="firecrawl",reason="rate_limited"} 1',
    ]);
    expect(sampleLines(text, 'pipeline_items_total')).toEqual(['pipeline_items_total{pipeline="p",outcome="x"} 4']);
  });

  it('a limited request is refused before its body is read: 429 for a 50 MB upload comes at once', async () => {
    const r = await start('limits: { rate: { per_second: 1, burst: 1 }, body_size: 64MiB }\n');
    await postFrom(r.ingestUrl, '127.0.0.1');
    const u = new URL(`${r.ingestUrl}/v1/events`);
    const t0 = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/x-ndjson', 'content-length': 50_000_000 } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', (e) => (e.message.includes('socket hang up') || e.message.includes('EPIPE') || e.message.includes('ECONNRESET') ? undefined : reject(e)));
      // Only a first megabyte is ever sent; the answer must not wait for the rest.
      req.write(Buffer.alloc(1_000_000, 0x20));
    });
    expect(status).toBe(429);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
