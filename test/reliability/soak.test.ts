/**
 * A bounded soak: mixed good and bad load, webhooks, scrapes, aborted uploads, probes at dead targets and
 * state writes that fail, against real listeners. The heap after GC and the active handles are flat from
 * the end of the warm-up to the end; no answer is a 5xx; every event a client was told was accepted is counted.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/host.js';
import { createMeter } from '../../src/index.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { signBody } from '../../src/sidecar/firecrawl.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WARMUP_MS = 8_000;
const SOAK_MS = 30_000;
/** The heap after GC may grow at most this much between the end of the warm-up and the end (documented in docs/reliability.md). */
const HEAP_FLAT_MIB = 4;
const SECRET = 'soak-secret';

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-soak-'));
let hang: NetServer | undefined;
const hangSockets = new Set<Socket>();
let running: RunningSidecar | undefined;
afterAll(async () => {
  await running?.close();
  for (const s of hangSockets) s.destroy();
  hang?.close();
  rmSync(dir, { recursive: true, force: true });
});

function heapMiB(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'FSReqCallback').length;
const kinds = () => JSON.stringify(Object.entries(process.getActiveResourcesInfo().reduce<Record<string, number>>((a, k) => ((a[k] = (a[k] ?? 0) + 1), a), {})));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('soak: 30 s of mixed load and faults', () => {
  it('heap and handles flat, no 5xx, no accepted event lost', async () => {
    // Reads (so it sees the prober hang up) and never answers.
    hang = createNetServer((s) => {
      s.resume();
      hangSockets.add(s);
      s.on('close', () => hangSockets.delete(s));
    });
    await new Promise<void>((r) => hang!.listen(0, '127.0.0.1', () => r()));
    const hangPort = (hang.address() as { port: number }).port;
    writeFileSync(join(dir, 'secret'), SECRET);
    const state = join(dir, 'state.json');
    const handlesBefore = handles();
    const yaml = `
pipelines:
  video: { stages: [download, transcription] }
  crawl: { stages: [chunking], firecrawl: { secret_file: ${join(dir, 'secret')} } }
families:
  - { name: soak_events_total, type: counter, help: Churning label values., labels: [key] }
probes:
  - { name: hang, url: "http://127.0.0.1:${hangPort}/health", interval: 1s, timeout: 300ms }
  - { name: closed, url: "http://127.0.0.1:1/health", interval: 1s, timeout: 300ms }
limits: { max_series: 2000, jobs: 5000, series_ttl: 2s, sweep_interval: 250ms, body_size: 256KiB, dedup_keys: 5000, rate: { per_second: 1000, burst: 1000 } }
state: { file: ${state}, snapshot_interval: 250ms }
`;
    running = await startSidecar(loadConfig(yaml, 'soak.yaml'), {
      metricsPort: 0,
      ingestPort: 0,
      metricsHost: '127.0.0.1',
      drainMs: 2000,
      deps: { meter: createMeter({ defaultMetrics: false, maxSeries: 2000, logger: () => {} }), logger: () => {} },
    });
    const r = running;
    const ingest = new URL(r.ingestUrl);
    let agent = new Agent({ connections: 8 });
    let other = new Agent({ connections: 16, localAddress: '127.0.0.3' });
    let limited = 0;
    const statuses = new Map<number, number>();
    let acceptedByClients = 0;
    let stop = false;
    let paused = false;
    const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
    let n = 0;

    const post = async (path: string, body: string | Buffer, headers: Record<string, string>, from = '127.0.0.1') => {
      try {
        const res = await request(`${r.ingestUrl}${path}`, { method: 'POST', body, headers, dispatcher: from === '127.0.0.1' ? agent : other, headersTimeout: 10_000, bodyTimeout: 10_000 });
        const text = await res.body.text();
        if (res.statusCode === 429 && from !== '127.0.0.1') limited++;
        count(res.statusCode);
        if (path === '/v1/events' && (res.statusCode === 200 || res.statusCode === 400) && text.startsWith('{"accepted"')) acceptedByClients += (JSON.parse(text) as { accepted: number }).accepted;
        return res.statusCode;
      } catch (err) {
        count(-1);
        throw err;
      }
    };

    const batch = () => {
      const lines: string[] = [];
      for (let i = 0; i < 300; i++) {
        const k = n++;
        switch (k % 6) {
          case 0:
            lines.push(`{"type":"job_started","pipeline":"video","job_id":"v-${k}"}`);
            break;
          case 1:
            lines.push(`{"type":"stage","pipeline":"video","job_id":"v-${k - 1}","stage":"transcription","duration_seconds":${(k % 50) / 10}}`);
            break;
          case 2:
            lines.push(`{"type":"job_finished","pipeline":"video","job_id":"v-${k - 2}","outcome":"${k % 12 === 2 ? 'failed' : 'completed'}","media_seconds":60}`);
            break;
          case 3:
            // Label values that churn: new ones fold into overflow at the cap, old ones expire.
            lines.push(`{"type":"metric","name":"soak_events_total","labels":{"key":"k${k % 5000}"},"value":1}`);
            break;
          case 4:
            lines.push(k % 4 === 0 ? '{"type":"items","pipeline":"video","outcome":' : `{"type":"items","pipeline":"video","outcome":"indexed","count":2}`);
            break;
          default:
            lines.push(`{"type":"item_created","scraper":"s${k % 7}","item_type":"track","source":"https://www.example.com/t/${k}"}`);
        }
      }
      return lines.join('\n');
    };

    const loop = async (fn: () => Promise<unknown>, everyMs = 0) => {
      while (!stop) {
        if (paused) {
          await sleep(20);
          continue;
        }
        await fn();
        await sleep(everyMs);
      }
    };

    const workers = [
      loop(() => post('/v1/events', batch(), { 'content-type': 'application/x-ndjson' })),
      loop(() => post('/v1/events', batch(), { 'content-type': 'application/x-ndjson' })),
      loop(async () => {
        const id = `c-${n++}`;
        const body = JSON.stringify({ success: true, type: 'crawl.page', id, webhookId: `w-${id}`, data: [{ metadata: { sourceURL: `https://a.example/${id}`, timings: { chunking: 0.2 } } }] });
        await post('/v1/webhooks/firecrawl/crawl', body, { 'content-type': 'application/json', 'x-firecrawl-signature': signBody(body, SECRET) });
        // The same delivery again (a duplicate), and one with a bad signature.
        await post('/v1/webhooks/firecrawl/crawl', body, { 'content-type': 'application/json', 'x-firecrawl-signature': signBody(body, SECRET) });
        await post('/v1/webhooks/firecrawl/crawl', body, { 'content-type': 'application/json', 'x-firecrawl-signature': signBody(body, 'wrong') });
      }, 5),
      loop(async () => {
        await post('/v1/events', Buffer.alloc(300 * 1024, 0x20), { 'content-type': 'application/x-ndjson' });
        await post('/v1/events', '{"type":', { 'content-type': 'application/json' });
        await post('/v1/events', 'x', { 'content-type': 'text/plain' });
        // An upload abandoned half way: the server sees the connection go.
        await new Promise<void>((resolve) => {
          const req = httpRequest({ host: ingest.hostname, port: ingest.port, path: '/v1/events', method: 'POST', agent: false, headers: { 'content-type': 'application/x-ndjson', 'content-length': 100_000 } });
          req.on('error', () => resolve());
          req.on('close', () => resolve());
          req.write(Buffer.alloc(50_000, 0x20), () => setTimeout(() => req.destroy(), 5));
        });
      }, 20),
      // A client that does not batch, from its own address: it meets the rate limit.
      loop(() => Promise.all(Array.from({ length: 32 }, () => post('/v1/events', '{"type":"items","pipeline":"p","outcome":"x"}', { 'content-type': 'application/json' }, '127.0.0.3'))), 0),
      loop(async () => {
        for (const accept of ['text/plain', 'application/openmetrics-text; version=1.0.0']) {
          const res = await request(r.metricsUrl, { headers: { accept, 'accept-encoding': 'gzip' }, dispatcher: agent });
          await res.body.arrayBuffer();
          count(res.statusCode);
        }
      }, 100),
      // The state file's temporary path is blocked by a directory half of the time: every other snapshot fails.
      loop(async () => {
        const tmp = `${state}.${process.pid}.tmp`;
        try {
          mkdirSync(tmp);
        } catch {
          // The sidecar's own temporary file is there this instant: block the next write instead.
        }
        await sleep(600);
        rmSync(tmp, { recursive: true, force: true });
      }, 600),
    ];

    const checkpoint = async () => {
      paused = true;
      await sleep(700);
      const old = [agent, other];
      agent = new Agent({ connections: 8 });
      other = new Agent({ connections: 16, localAddress: '127.0.0.3' });
      await Promise.all(old.map((a) => a.close()));
      await sleep(300);
      const h = { heap: heapMiB(), handles: handles() };
      paused = false;
      return h;
    };

    const t0 = Date.now();
    await sleep(WARMUP_MS);
    const warm = await checkpoint();
    await sleep(SOAK_MS - WARMUP_MS);
    const end = await checkpoint();
    stop = true;
    await Promise.allSettled(workers);
    const events = n;

    const text = await r.meter.metrics();
    const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    // Zero lost: what the sidecar counted as accepted is what the clients were told.
    expect(num(/^pipemeter_ingest_events_total\{source="events",outcome="accepted"\} (\S+)$/m)).toBe(acceptedByClients);
    expect([...statuses.keys()].filter((s) => s >= 500 || s === -1)).toEqual([]);
    // Clients past the rate limit were told so (429); what they sent is refused whole, never applied in part.
    expect(statuses.get(429)).toBeGreaterThan(0);
    expect(statuses.get(413)).toBeGreaterThan(0);
    expect(num(/^pipemeter_webhook_duplicates_total\{pipeline="crawl"\} (\S+)$/m)).toBeGreaterThan(0);
    expect(num(/^probe_success\{target="hang"\} (\S+)$/m)).toBe(0);
    expect(r.meter.getFamily('soak_events_total')!.series.size).toBeLessThanOrEqual(2000);

    await r.close();
    running = undefined;
    await Promise.all([agent.close(), other.close()]);
    await sleep(200);
    const handlesAfter = handles();
    expect(JSON.parse(readFileSync(state, 'utf8')).version).toBe(1);

    const seconds = (Date.now() - t0) / 1000;
    console.log(
      `soak: ${seconds.toFixed(0)} s, ${events} event lines and webhook ids generated, ${[...statuses].map(([s, c]) => `${c}x${s}`).join(' ')}, ${limited} of the 429 to the client that does not batch; accepted ${acceptedByClients} (counted the same); ` +
        `heap after GC ${warm.heap.toFixed(1)} MiB after warm-up, ${end.heap.toFixed(1)} MiB at the end; handles ${warm.handles} -> ${end.handles}, ${handlesBefore} before start, ${handlesAfter} after close ${kinds()}`,
    );
    expect(end.heap - warm.heap).toBeLessThan(HEAP_FLAT_MIB);
    // Each of the two probes may or may not be in flight (a socket and its timeout) at the instant of a checkpoint.
    expect(end.handles).toBeLessThanOrEqual(warm.handles + 4);
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore);
  }, 90_000);
});
