/**
 * Sidecar under load, with autocannon over loopback: events/s for NDJSON batches of 1 000 events and for
 * single-event requests (p50/p99 request latency), and /metrics latency idle and while batch ingest runs
 * at full rate (the scrape must not starve); then StatsD lines/s over UDP. The sidecar is its own process
 * (one core); bounded in time.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
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

async function startServe(dir: string): Promise<{ ingest: string; metrics: string; statsdPort: number; stop(): Promise<void> }> {
  const config = join(dir, 'bench.yaml');
  // The per-client rate limit protects a shared sidecar; a benchmark is the one client on purpose.
  writeFileSync(
    config,
    [
      'listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }',
      'limits:\n  body_size: 4MiB\n  rate: { per_second: 1000000, burst: 1000000 }',
      'families:\n  - { name: worker_request_seconds, type: histogram, help: Request time., labels: [stage], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] }',
      'statsd:\n  enabled: true\n  port: 0\n  mappings:',
      '    - { match: "scraper.*.items.*", family: scraper_items_created_total, labels: { scraper: "$1", item_type: "$2", source: statsd } }',
      '    - { match: "request.time", family: worker_request_seconds }',
    ].join('\n') + '\n',
  );
  const child = spawn(process.execPath, [main, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise<{ ingest: string; metrics: string; statsdPort: number }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start in 10 s: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /metrics on (\S+), ingest on (\S+)\/v1\/events, statsd on \S+:(\d+)\/udp/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ metrics: m[1]!, ingest: m[2]!, statsdPort: Number(m[3]) });
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

/** statsdLines reads how many StatsD lines the sidecar has accepted and refused so far, from its /metrics. */
async function statsdLines(url: string): Promise<{ accepted: number; rejected: number; dropped: number }> {
  const text = await (await request(url)).body.text();
  const read = (sample: string) => Number(text.split('\n').find((l) => l.startsWith(sample + ' '))?.split(' ')[1] ?? 0);
  return {
    accepted: read('pipemeter_ingest_events_total{source="statsd",outcome="accepted"}'),
    rejected: read('pipemeter_ingest_events_total{source="statsd",outcome="rejected"}'),
    dropped: read('pipemeter_statsd_datagrams_dropped_total'),
  };
}

/**
 * statsdBlast sends datagrams of 20 lines (a scraper counter and a DogStatsD-tagged timer, as instrumented
 * workers send them) as fast as this process can for `seconds`, keeping a bounded number in flight.
 */
async function statsdBlast(port: number, seconds: number): Promise<{ lines: number; datagrams: number }> {
  const socket = createSocket('udp4');
  const lines: string[] = [];
  for (let i = 0; i < 20; i++) lines.push(i % 2 === 0 ? `scraper.site${i}.items.track:1|c` : `request.time:${i * 17}|ms|#stage:embedding`);
  const payload = Buffer.from(lines.join('\n'));
  const until = performance.now() + seconds * 1000;
  let datagrams = 0;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (inFlight < 64 && performance.now() < until) {
        inFlight++;
        datagrams++;
        socket.send(payload, port, '127.0.0.1', () => {
          inFlight--;
          if (inFlight === 0 && performance.now() >= until) resolve();
          else if (inFlight < 32) pump();
        });
      }
    };
    pump();
  });
  socket.close();
  return { lines: datagrams * 20, datagrams };
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
  const before = await statsdLines(serve.metrics);
  const t0 = performance.now();
  const blast = await statsdBlast(serve.statsdPort, SECONDS);
  // Datagrams still in the socket buffer are read after the sender stops: wait until the accepted count
  // settles, and until the kernel's drop count (read every 5 s) accounts for every datagram sent.
  let after = await statsdLines(serve.metrics);
  let readUntil = performance.now();
  for (let settled = 0; settled < 3; ) {
    await new Promise((r) => setTimeout(r, 200));
    const next = await statsdLines(serve.metrics);
    if (next.accepted !== after.accepted) readUntil = performance.now();
    settled = next.accepted === after.accepted ? settled + 1 : 0;
    after = next;
  }
  const datagramsSeen = () => (after.accepted + after.rejected - before.accepted - before.rejected) / 20 + after.dropped - before.dropped;
  for (let i = 0; i < 40 && datagramsSeen() < blast.datagrams; i++) {
    await new Promise((r) => setTimeout(r, 200));
    after = await statsdLines(serve.metrics);
  }
  const statsdSeconds = (readUntil - t0) / 1000;
  const statsdAccepted = after.accepted - before.accepted;
  const statsdRejected = after.rejected - before.rejected;
  const statsdDropped = after.dropped - before.dropped;
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

StatsD over UDP (${SECONDS} s; datagrams of 20 lines, half counters, half DogStatsD-tagged timers, sent by this process as
fast as it can, 64 in flight; the sidecar's socket buffer is 8 MiB requested). UDP has no back-pressure: what the sender
offers beyond what the sidecar reads, the kernel drops when the socket buffer is full, and the sidecar counts those
datagrams in \`pipemeter_statsd_datagrams_dropped_total\` (from /proc/net/udp). statsd_exporter is not measured beside
it: it is not packaged for this machine's Debian, and neither its sources nor Go modules can be fetched here.

| datagrams sent | lines sent | lines accepted | lines refused | datagrams dropped by the kernel, as the sidecar counted them | accepted lines/s |
|---|---|---|---|---|---|
| ${fmt(blast.datagrams)} | ${fmt(blast.lines)} | ${fmt(statsdAccepted)} | ${statsdRejected < 10 ? String(statsdRejected) : fmt(statsdRejected)} | ${fmt(statsdDropped)} (${blast.lines === statsdDropped * 20 + statsdAccepted + statsdRejected ? 'every line sent is accounted for' : `${blast.lines - statsdDropped * 20 - statsdAccepted - statsdRejected} lines unaccounted for`}) | ${fmt(statsdAccepted / statsdSeconds)} |
`;
  process.stdout.write(report);
  if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/sidecar-load.md', import.meta.url), report);
} finally {
  await serve.stop();
  rmSync(dir, { recursive: true, force: true });
}
