/**
 * Cluster aggregation: a node:cluster primary serving one /metrics for 8 workers of 10 000 series each, recording
 * all the time. pipemeter (workers push their changes every second, the primary merges them and renders its own
 * state) against prom-client's AggregatorRegistry (the primary asks every worker over IPC at scrape time), in
 * alternating rounds of the same run. Measured: scrape latency, the primary's CPU with and without scrapes, the
 * workers' CPU, and scrapes while one worker is blocked in a busy loop for 5 s.
 *
 * One file, three roles: the controller (this process, which scrapes), a primary per library and round (spawned,
 * its own process), and its 8 workers (cluster.fork() of this file).
 */
import { spawn } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { readFileSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Counter as PromCounter, Histogram as PromHistogram, Registry } from 'prom-client';
import { createMeter } from '../src/index.js';
import { fmt, machine, median } from './lib.js';

type Lib = 'pipemeter' | 'prom-client';
const WORKERS = Number(process.env.BENCH_WORKERS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** Recordings per second per worker, spread over its series at random. */
const RATE = Number(process.env.BENCH_RATE ?? 5000);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 10);
const BLOCK_MS = 5000;
/** 8 000 counter series (1 600 routes x 5 statuses) and 2 000 histogram series of 10 buckets: 10 000 per worker. */
const ROUTES = 1600;
const STATUSES = ['200', '201', '400', '404', '500'];
const HIST_ROUTES = 2000;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const SERIES = ROUTES * STATUSES.length + HIST_ROUTES;
const self = fileURLToPath(import.meta.url);

interface Cpu {
  /** CPU microseconds (user + system) and the wall clock in ms when read. */
  us: number;
  at: number;
}
const cpuNow = (): Cpu => {
  const c = process.cpuUsage();
  return { us: c.user + c.system, at: performance.now() };
};

/** A worker: 10 000 series, recorded into at RATE per second; answers cpu and block commands. */
async function worker(lib: Lib): Promise<void> {
  let inc: (i: number) => void;
  let observe: (i: number, v: number) => void;
  let meter: ReturnType<typeof createMeter> | undefined;
  if (lib === 'pipemeter') {
    meter = createMeter({ service: 'bench', defaultMetrics: false, cluster: 'worker' });
    const c = meter.counter({ name: 'requests_total', help: 'Requests.', labels: ['route', 'status'] });
    const h = meter.histogram({ name: 'request_seconds', help: 'Request time.', labels: ['route'], buckets: BUCKETS });
    const cs = Array.from({ length: ROUTES * STATUSES.length }, (_, i) => c.labels({ route: `/r${i % ROUTES}`, status: STATUSES[Math.floor(i / ROUTES)]! }));
    const hs = Array.from({ length: HIST_ROUTES }, (_, i) => h.labels({ route: `/r${i}` }));
    inc = (i) => cs[i]!.inc();
    observe = (i, v) => hs[i]!.observe(v);
  } else {
    const reg = new Registry();
    AggregatorRegistry.setRegistries([reg]);
    // prom-client's workers answer the primary only once an AggregatorRegistry exists in them too.
    new AggregatorRegistry();
    const c = new PromCounter({ name: 'requests_total', help: 'Requests.', labelNames: ['route', 'status'], registers: [reg] });
    const h = new PromHistogram({ name: 'request_seconds', help: 'Request time.', labelNames: ['route'], buckets: BUCKETS, registers: [reg] });
    const cs = Array.from({ length: ROUTES * STATUSES.length }, (_, i) => c.labels({ route: `/r${i % ROUTES}`, status: STATUSES[Math.floor(i / ROUTES)]! }));
    const hs = Array.from({ length: HIST_ROUTES }, (_, i) => h.labels({ route: `/r${i}` }));
    inc = (i) => cs[i]!.inc();
    observe = (i, v) => hs[i]!.observe(v);
  }
  // Every series exists before the first scrape, as in a warmed-up service.
  for (let i = 0; i < ROUTES * STATUSES.length; i++) inc(i);
  for (let i = 0; i < HIST_ROUTES; i++) observe(i, 0.1);
  if (meter !== undefined) await meter.flush(30_000);
  let seed = cluster.worker!.id * 7919;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const perTick = RATE / 100;
  setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const r = rand();
      if (r < 0.8) inc(Math.floor(rand() * ROUTES * STATUSES.length));
      else observe(Math.floor(rand() * HIST_ROUTES), rand() * 2);
    }
  }, 10);
  process.on('message', (m: { cmd?: string; ms?: number }) => {
    if (m.cmd === 'cpu') process.send!({ cpu: cpuNow().us });
    if (m.cmd === 'block') {
      const until = Date.now() + m.ms!;
      while (Date.now() < until) {
        // Blocked: answers nothing, sends nothing.
      }
    }
  });
  process.send!({ ready: true });
}

/** appMessage resolves with a worker's next non-pipemeter message that has `key`. */
function appMessage<T>(w: Worker, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (typeof m === 'object' && m !== null && key in m) {
        w.off('message', on);
        resolve(m[key] as T);
      }
    };
    w.on('message', on);
  });
}

/**
 * A primary: forks the workers, serves /metrics on a free port (timing each answer and the CPU the process spent
 * meanwhile), answers the controller's cpu, block and served commands.
 */
async function primary(lib: Lib): Promise<void> {
  cluster.setupPrimary({ exec: self, args: ['--worker', lib] });
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  if (lib === 'pipemeter') {
    const meter = createMeter({ service: 'bench', defaultMetrics: false, cluster: 'primary' });
    handler = meter.router();
  } else {
    const agg = new AggregatorRegistry();
    handler = (_req, res) => {
      agg.clusterMetrics().then(
        (text) => {
          res.setHeader('Content-Type', agg.contentType);
          res.end(text);
        },
        (err: Error) => {
          res.statusCode = 500;
          res.end(err.message);
        },
      );
    };
  }
  let served: { ms: number; cpuMs: number }[] = [];
  const server = createServer((req, res) => {
    const c0 = cpuNow();
    res.on('finish', () => {
      const c1 = cpuNow();
      served.push({ ms: c1.at - c0.at, cpuMs: (c1.us - c0.us) / 1000 });
    });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  const workers = Array.from({ length: WORKERS }, () => cluster.fork());
  await Promise.all(workers.map((w) => appMessage(w, 'ready')));
  process.on('message', async (m: { cmd: string; ms?: number }) => {
    if (m.cmd === 'cpu') {
      const own = cpuNow();
      const theirs = await Promise.all(workers.map((w) => (w.send({ cmd: 'cpu' }), appMessage<number>(w, 'cpu'))));
      process.send!({ primary: own, workers: theirs.reduce((a, b) => a + b, 0) });
    } else if (m.cmd === 'block') {
      workers[0]!.send({ cmd: 'block', ms: m.ms });
      process.send!({ blocking: true });
    } else if (m.cmd === 'served') {
      process.send!({ served });
      served = [];
    }
  });
  process.on('SIGTERM', () => {
    for (const w of workers) w.process.kill('SIGKILL');
    process.exit(0);
  });
  process.send!({ url });
}

interface Scrape {
  ms: number;
  status: number;
  bytes: number;
}

async function scrape(url: string): Promise<Scrape> {
  const t0 = performance.now();
  try {
    // Both answer uncompressed: a gzip middleware would cost each the same.
    const res = await fetch(url, { signal: AbortSignal.timeout(15_000), headers: { 'accept-encoding': 'identity' } });
    const body = await res.arrayBuffer();
    return { ms: performance.now() - t0, status: res.status, bytes: body.byteLength };
  } catch {
    return { ms: performance.now() - t0, status: 0, bytes: 0 };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RoundResult {
  lib: Lib;
  scrapes: Scrape[];
  /** How long the primary took from request to response, ms. */
  serverMs: number[];
  /** Primary CPU, ms per s, without scrapes; workers' CPU (all of them), ms per s, without scrapes. */
  idlePrimary: number;
  idleWorkers: number;
  /** Primary CPU per scrape, ms. */
  perScrape: number;
  blocked: Scrape[];
  /** Bytes of a scrape: both render the same 8 workers' series. */
  bytes: number;
}

/** run starts one primary (and its workers) and measures it. */
async function run(lib: Lib): Promise<RoundResult> {
  const child = spawn(process.execPath, [self, '--primary', lib], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>(key: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          child.off('message', on);
          resolve((key === 'primary' ? m : m[key]) as T);
        }
      };
      child.on('message', on);
      child.once('exit', (code) => reject(new Error(`${lib} primary exited ${code}`)));
    });
  const url = await next<string>('url');
  const cpu = async () => {
    child.send({ cmd: 'cpu' });
    return next<{ primary: Cpu; workers: number }>('primary');
  };
  try {
    await sleep(3000);
    // Without scrapes: what keeping the merged state costs (pipemeter), or nothing (prom-client).
    const a = await cpu();
    await sleep(WINDOW_S * 1000);
    const b = await cpu();
    const wall = (b.primary.at - a.primary.at) / 1000;
    const idlePrimary = (b.primary.us - a.primary.us) / 1000 / wall;
    const idleWorkers = (b.workers - a.workers) / 1000 / wall;
    // One scrape a second (or back to back, when one takes longer).
    const scrapes: Scrape[] = [];
    for (let i = 0; i < WINDOW_S; i++) {
      const t0 = performance.now();
      scrapes.push(await scrape(url));
      await sleep(Math.max(0, 1000 - (performance.now() - t0)));
    }
    child.send({ cmd: 'served' });
    const served = await next<{ ms: number; cpuMs: number }[]>('served');
    // The primary's CPU from request to response, less what it spends between scrapes anyway.
    const perScrape = median(served.map((x) => Math.max(0, x.cpuMs - (idlePrimary * x.ms) / 1000)));
    const serverMs = served.map((x) => x.ms);
    // One worker blocked for 5 s: scrapes start 100 ms into the block and go on until it is over.
    child.send({ cmd: 'block', ms: BLOCK_MS });
    await next('blocking');
    await sleep(100);
    const blocked: Scrape[] = [];
    const t0 = performance.now();
    while (performance.now() - t0 < BLOCK_MS - 200) {
      blocked.push(await scrape(url));
      await sleep(250);
    }
    return { lib, scrapes, serverMs, idlePrimary, idleWorkers, perScrape, blocked, bytes: median(scrapes.map((s) => s.bytes)) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function controller(): Promise<void> {
  const load = loadavg()[0]!;
  const results: RoundResult[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: Lib[] = r % 2 === 0 ? ['pipemeter', 'prom-client'] : ['prom-client', 'pipemeter'];
    for (const lib of order) {
      process.stdout.write(`cluster: round ${r + 1}, ${lib}...\n`);
      results.push(await run(lib));
    }
  }
  const of = (lib: Lib) => results.filter((x) => x.lib === lib);
  const ours = of('pipemeter');
  const theirs = of('prom-client');
  const all = (rs: RoundResult[], f: (x: RoundResult) => Scrape[]) => rs.flatMap(f);
  const ms = (rs: RoundResult[]) => all(rs, (x) => x.scrapes).map((s) => s.ms);
  const med = (rs: RoundResult[], f: (x: RoundResult) => number) => median(rs.map(f));
  const srv = (rs: RoundResult[]) => rs.flatMap((x) => x.serverMs);
  const blockedOurs = all(ours, (x) => x.blocked);
  const blockedTheirs = all(theirs, (x) => x.blocked);
  const statuses = (ss: Scrape[]) => {
    const counts = new Map<string, number>();
    for (const s of ss) {
      const k = s.status === 0 ? 'no answer' : String(s.status);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${n} × ${k}`).join(', ');
  };
  const p50 = (rs: RoundResult[]) => pct(ms(rs), 50);
  const at15 = (rs: RoundResult[]) => med(rs, (x) => x.idlePrimary) + med(rs, (x) => x.perScrape) / 15;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
  const blockMax = Math.max(...blockedOurs.map((s) => s.ms));
  const blockP50 = pct(blockedOurs.map((s) => s.ms), 50);
  const rows = [
    `| scrape latency p50 | ${fmt(p50(ours))} ms | ${fmt(p50(theirs))} ms | ${ratio(p50(theirs), p50(ours))} faster | >= 5x faster | ${p50(theirs) / p50(ours) >= 5 ? 'yes' : 'NO'} |`,
    `| scrape latency p99 | ${fmt(pct(ms(ours), 99))} ms | ${fmt(pct(ms(theirs), 99))} ms | ${ratio(pct(ms(theirs), 99), pct(ms(ours), 99))} faster | (reported) | |`,
    `| the primary's time from request to response, p50 | ${fmt(pct(srv(ours), 50))} ms | ${fmt(pct(srv(theirs), 50))} ms | ${ratio(pct(srv(theirs), 50), pct(srv(ours), 50))} faster | (reported) | |`,
    `| primary CPU per scrape | ${fmt(med(ours, (x) => x.perScrape))} ms | ${fmt(med(theirs, (x) => x.perScrape))} ms | ${ratio(med(theirs, (x) => x.perScrape), med(ours, (x) => x.perScrape))} less | (reported) | |`,
    `| primary CPU between scrapes (merging the workers' batches) | ${fmt(med(ours, (x) => x.idlePrimary))} ms/s | ${fmt(med(theirs, (x) => x.idlePrimary))} ms/s | | (reported) | |`,
    `| primary CPU at one scrape per 15 s | ${fmt(at15(ours))} ms/s | ${fmt(at15(theirs))} ms/s | ${ratio(at15(theirs), at15(ours))} less | (reported) | |`,
    `| all ${WORKERS} workers' CPU, no scrapes (recording ${fmt(RATE)}/s each, + pipemeter's flushes) | ${fmt(med(ours, (x) => x.idleWorkers))} ms/s | ${fmt(med(theirs, (x) => x.idleWorkers))} ms/s | | (reported) | |`,
    `| scrapes while one worker is blocked for 5 s: latency p50 (unblocked p50 ${fmt(p50(ours))} ms) | ${fmt(blockP50)} ms | ${blockedTheirs.length > 0 ? fmt(pct(blockedTheirs.map((x) => x.ms), 50)) : '-'} ms | | <= 2 x unblocked p50 (${fmt(2 * p50(ours))} ms) | ${blockP50 <= 2 * p50(ours) ? 'yes' : 'NO'} |`,
    `| scrapes while one worker is blocked for 5 s: latency max (unblocked max ${fmt(Math.max(...ms(ours)))} ms) | ${fmt(blockMax)} ms | ${fmt(Math.max(...blockedTheirs.map((x) => x.ms)))} ms | | (reported) | |`,
    `| scrapes while one worker is blocked for 5 s: answers | ${statuses(blockedOurs)} | ${statuses(blockedTheirs)} | | all 200 | ${blockedOurs.every((x) => x.status === 200) ? 'yes' : 'NO'} |`,
  ];
  const report = `# Cluster aggregation benchmark

${machine()}; ${ROUNDS} alternating rounds per library. A node:cluster primary (its own process) forks ${WORKERS} workers; each holds
${fmt(SERIES)} series (${fmt(ROUTES * STATUSES.length)} counters, ${fmt(HIST_ROUTES)} histograms of ${BUCKETS.length} buckets, the same label sets in every
worker, so the merged exposition has ${fmt(SERIES)} series too, ~${fmt(median(results.map((r) => r.bytes)) / 1024)} KiB) and records ${fmt(RATE)} times a second into
random ones. pipemeter: \`cluster: 'worker'\` meters push their changes every second, the \`cluster: 'primary'\` meter merges
them and serves its own state. Baseline: prom-client ${promClientVersion()}'s \`AggregatorRegistry.clusterMetrics()\` behind a plain
\`node:http\` server, which asks every worker over IPC at scrape time and times out after 5 s.
Scrapes: ${WINDOW_S} per round, one a second (back to back when one takes longer), uncompressed. CPU is \`process.cpuUsage()\`:
between scrapes, of the primary and of all workers over ${WINDOW_S} s without scrapes; per scrape, of the primary from request to
response, less its CPU between scrapes for as long. Then worker 1 busy-loops for 5 s while the controller scrapes every
250 ms. The machine has ${cpus().length} cores for ${WORKERS + 2} busy processes, and other work ran beside it (load average
${load.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end): absolute figures are noisy; the comparison is made in the same run.

| | pipemeter | prom-client AggregatorRegistry | ratio | target | met |
|---|---|---|---|---|---|
${rows.join('\n')}

Every blocked-phase scrape, in ms: pipemeter ${blockedOurs.map((s) => s.ms.toFixed(0)).join(', ')}; prom-client ${blockedTheirs.map((s) => `${s.ms.toFixed(0)}${s.status === 200 ? '' : ` (${s.status === 0 ? 'no answer' : s.status})`}`).join(', ')}.
`;
  process.stdout.write(report);
  if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/cluster.md', import.meta.url), report);
}

function promClientVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../node_modules/prom-client/package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const role = process.argv.indexOf('--worker') >= 0 ? 'worker' : process.argv.indexOf('--primary') >= 0 ? 'primary' : 'controller';
const lib = process.argv[process.argv.indexOf(`--${role}`) + 1] as Lib;
if (role === 'worker') await worker(lib);
else if (role === 'primary') await primary(lib);
else await controller();
