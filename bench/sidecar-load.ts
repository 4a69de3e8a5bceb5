/**
 * Sidecar under load, with autocannon over loopback: events/s for NDJSON batches of 1 000 events and for
 * single-event requests (p50/p99 request latency), and /metrics latency idle and while batch ingest runs
 * at full rate (the scrape must not starve). The sidecar is its own process (one core); bounded in time.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';
import { fmt, machine, median } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const BATCH = 1000;
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'src', 'cli', 'main.js');
const NDJSON = { 'content-type': 'application/x-ndjson' };

let seq = 0;
/** batch builds one NDJSON body with fresh job ids, the mix a scraper fleet and a video pipeline send. */
function batch(): string {
  const lines: string[] = [];
  const base = seq++ * BATCH;
  for (let i = 0; i < BATCH; i++) {
    const n = base + i;
    switch (i % 4) {
      case 0:
        lines.push(`{"type":"item_created","scraper":"scraper-${n % 11}","item_type":"track","source":"https://www.site${n % 11}.com/t/${n}"}`);
        break;
      case 1:
        lines.push(`{"type":"job_started","pipeline":"video","job_id":"v-${n}"}`);
        break;
      case 2:
        lines.push(`{"type":"stage","pipeline":"video","job_id":"v-${n - 1}","stage":"transcription","duration_seconds":${(n % 97) / 10}}`);
        break;
      default:
        lines.push(`{"type":"job_finished","pipeline":"video","job_id":"v-${n - 3}","outcome":"completed","media_seconds":300}`);
    }
  }
  return lines.join('\n') + '\n';
}

async function startServe(dir: string): Promise<{ ingest: string; metrics: string; stop(): Promise<void> }> {
  const config = join(dir, 'bench.yaml');
  // The per-client rate limit protects a shared sidecar; a benchmark is the one client on purpose.
  writeFileSync(
    config,
    'listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\nlimits:\n  body_size: 4MiB\n  rate: { per_second: 1000000, burst: 1000000 }\n',
  );
  const child = spawn(process.execPath, [main, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise<{ ingest: string; metrics: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start in 10 s: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /metrics on (\S+), ingest on (\S+)\/v1\/events/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ metrics: m[1]!, ingest: m[2]! });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  return {
    ...urls,
    stop: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.on('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** scrapeLatencies GETs /metrics every 100 ms until `until` and returns each scrape's milliseconds. */
async function scrapeLatencies(url: string, until: number): Promise<number[]> {
  const out: number[] = [];
  while (performance.now() < until) {
    const t0 = performance.now();
    const res = await request(url);
    await res.body.text();
    out.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 100));
  }
  return out;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-load-'));
const serve = await startServe(dir);
try {
  // Warm up, then batches.
  await cannon({ url: serve.ingest, connections: 4, duration: 1, requests: [{ method: 'POST', path: '/v1/events', headers: NDJSON, setupRequest: (r) => ({ ...r, body: batch() }) }] });
  const idle = await scrapeLatencies(serve.metrics, performance.now() + 2000);
  const loadedScrapes = scrapeLatencies(serve.metrics, performance.now() + SECONDS * 1000);
  const batches = await cannon({
    url: serve.ingest,
    connections: 4,
    duration: SECONDS,
    requests: [{ method: 'POST', path: '/v1/events', headers: NDJSON, setupRequest: (r) => ({ ...r, body: batch() }) }],
  });
  const loaded = await loadedScrapes;
  const single = await cannon({
    url: serve.ingest,
    connections: 8,
    duration: SECONDS,
    requests: [{ method: 'POST', path: '/v1/events', headers: { 'content-type': 'application/json' }, body: '{"type":"item_created","scraper":"beatport","item_type":"track","source":"www.beatport.com"}' }],
  });
  const batchEvents = (batches['2xx'] * BATCH) / (batches.duration || SECONDS);
  const singleEvents = single['2xx'] / (single.duration || SECONDS);
  const report = `# Sidecar load benchmark

${machine()}; \`pipemeter serve\` as its own process (one core), autocannon in this one, loopback, ${SECONDS} s per phase.

| phase | events/s | requests/s | request latency p50 / p99 | non-2xx | target |
|---|---|---|---|---|---|
| NDJSON batches of ${BATCH} events, 4 connections | ${fmt(batchEvents)} | ${fmt(batches.requests.average)} | ${batches.latency.p50} / ${batches.latency.p99} ms | ${batches.non2xx} | >= 100k events/s: ${batchEvents >= 100_000 ? 'met' : 'NOT met'} |
| single-event requests, 8 connections | ${fmt(singleEvents)} | ${fmt(single.requests.average)} | ${single.latency.p50} / ${single.latency.p99} ms | ${single.non2xx} | (reported) |

Scrape of /metrics (${loaded.length} scrapes under load, ${idle.length} idle), every 100 ms:

| | p50 | p99 | max |
|---|---|---|---|
| idle | ${fmt(median(idle))} ms | ${fmt(pct(idle, 0.99))} ms | ${fmt(Math.max(...idle))} ms |
| while batches ingest at full rate | ${fmt(median(loaded))} ms | ${fmt(pct(loaded, 0.99))} ms | ${fmt(Math.max(...loaded))} ms |
`;
  process.stdout.write(report);
  if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/sidecar-load.md', import.meta.url), report);
} finally {
  await serve.stop();
  rmSync(dir, { recursive: true, force: true });
}
