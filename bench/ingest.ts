/**
 * Ingest throughput: events/s the sidecar applies from NDJSON batches of 1 000 events over loopback.
 * The sidecar runs as its own process (`pipemeter serve`, built next to this file), so the client's
 * work does not share its event loop. Bounded: BENCH_SECONDS (default 5) of load after 1 s of warm-up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const BATCH = 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'src', 'cli', 'main.js');

/** batch builds one NDJSON body: the mix a scraper fleet and a video pipeline send. */
function batch(seq: number): string {
  const lines: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    const n = seq * BATCH + i;
    switch (i % 5) {
      case 0:
        lines.push(JSON.stringify({ type: 'item_created', scraper: `scraper-${n % 11}`, item_type: ['track', 'artist', 'playlist'][n % 3], source: `https://www.site${n % 11}.com/track/${n}` }));
        break;
      case 1:
        lines.push(JSON.stringify({ type: 'job_started', pipeline: 'video', job_id: `v-${n}` }));
        break;
      case 2:
        lines.push(JSON.stringify({ type: 'stage', pipeline: 'video', job_id: `v-${n - 1}`, stage: ['downloading', 'transcription', 'indexing'][n % 3], duration_seconds: (n % 97) / 10 }));
        break;
      case 3:
        lines.push(JSON.stringify({ type: 'job_finished', pipeline: 'video', job_id: `v-${n - 2}`, outcome: n % 17 === 0 ? 'failed' : 'completed', media_seconds: 300 }));
        break;
      default:
        lines.push(JSON.stringify({ type: 'items', pipeline: 'crawl', outcome: n % 9 === 0 ? 'failed' : 'indexed', count: 1 }));
    }
  }
  return lines.join('\n') + '\n';
}

async function waitForUrl(child: ReturnType<typeof spawn>): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 10 s: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ingest on (\S+)\/v1\/events/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
}

async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-bench-'));
  const config = join(dir, 'bench.yaml');
  writeFileSync(config, 'listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\nlimits: { body_size: 4MiB }\n');
  const child = spawn(process.execPath, [main, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await waitForUrl(child);
    const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
    let seq = 0;
    let events = 0;
    let rejected = 0;
    const latencies: number[] = [];
    const send = async (measure: boolean) => {
      // Every batch is new: fresh job ids, so the job table does real work instead of dropping repeats.
      const body = batch(seq++);
      const t0 = performance.now();
      const res = await pool.request({ path: '/v1/events', method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      const answer = (await res.body.json()) as { accepted: number; rejected: unknown[] };
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
      if (measure) {
        latencies.push(performance.now() - t0);
        events += answer.accepted;
        rejected += answer.rejected.length;
      }
    };
    const loop = async (until: number, measure: boolean) => {
      while (performance.now() < until) await send(measure);
    };
    const warm = performance.now() + 1000;
    await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(warm, false)));
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(t0 + SECONDS * 1000, true)));
    const elapsed = (performance.now() - t0) / 1000;
    await pool.close();
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
    console.log(`pipemeter serve ingest, NDJSON batches of ${BATCH} events, ${CONCURRENCY} connections, ${elapsed.toFixed(1)} s over loopback (node ${process.version})`);
    console.log(`  events/s        ${Math.round(events / elapsed).toLocaleString('en-US')}`);
    console.log(`  batches         ${latencies.length} (rejected events: ${rejected})`);
    console.log(`  batch latency   p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        r(undefined);
      }, 5000);
      child.on('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
    rmSync(dir, { recursive: true, force: true });
  }
}

run().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
