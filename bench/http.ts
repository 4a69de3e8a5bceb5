/**
 * HTTP server metrics overhead, with autocannon: one express 5 app (bench/http-server.ts, one process per mode, one core)
 * with no metrics, with pipemeter's meter.http(), and with express-prom-bundle recording the same labels and buckets.
 * Rounds alternate short bursts at the three; each round's overhead is the share of requests/s lost against that round's
 * burst without metrics. Then the middlewares alone, in this process. Target: pipemeter's overhead at most half of
 * express-prom-bundle's.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import promBundle from 'express-prom-bundle';
import { Registry } from 'prom-client';
import { httpServerSeconds } from '../src/catalog/index.js';
import { createMeter } from '../src/index.js';
import { fmt, machine, median, opsPerSecond, spread } from './lib.js';
import type { Mode } from './http-server.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = 3;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const IN_PROCESS_ROUNDS = 9;
const CONNECTIONS = 32;
const here = dirname(fileURLToPath(import.meta.url));
const modes: readonly Mode[] = ['none', 'pipemeter', 'bundle'];
const TASKSET = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
if (TASKSET) spawnSync('taskset', ['-cp', '0', String(process.pid)]);
const version = (pkg: string) => (JSON.parse(readFileSync(join(here, '..', '..', 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

/** The request mix: two routes with parameters (one under a mounted router), a POST with a body, a 404. */
const requests: autocannon.Request[] = [
  { method: 'GET', path: '/items/1' },
  { method: 'GET', path: '/items/2?full=1' },
  { method: 'GET', path: '/users/7/orders/9' },
  { method: 'POST', path: '/items', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' },
  { method: 'GET', path: '/no/such/page' },
];

async function start(mode: Mode): Promise<{ child: ChildProcess; url: string }> {
  // Each server on the second core, autocannon (this process) on the first, where taskset exists.
  const args = [join(here, 'http-server.js'), mode];
  const child = TASKSET ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start in 10 s: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    });
    child.on('exit', (code) => reject(new Error(`${mode} server exited ${code}: ${out}`)));
  });
  return { child, url };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function cannon(url: string, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon({ url, connections: CONNECTIONS, duration: seconds, requests }, (err, r) => (err ? reject(err) : resolve(r))));
}

/** recorded reads how many requests a metrics-recording server counted, summed over its duration histogram's `_count`. */
async function recorded(url: string, mode: Mode): Promise<number | undefined> {
  if (mode === 'none') return undefined;
  const text = await (await fetch(`${url}/metrics`)).text();
  const name = mode === 'pipemeter' ? 'http_server_request_duration_seconds_count' : 'http_request_duration_seconds_count';
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

interface Burst {
  rps: number;
  /** The server's CPU time (user + system) per request answered in the burst, in microseconds. */
  cpuPerRequest: number;
  p99: number;
}

const cpuMicros = async (url: string) => ((await (await fetch(`${url}/__bench/cpu`)).json()) as { micros: number }).micros;

/** One server per mode for the whole run, so a round's three bursts follow each other within seconds. */
const servers = {} as Record<Mode, { child: ChildProcess; url: string; answered: number; bursts: number; errors: number }>;
async function burst(mode: Mode, seconds: number): Promise<Burst> {
  const srv = servers[mode];
  const cpu0 = await cpuMicros(srv.url);
  const r = await cannon(srv.url, seconds);
  const cpu1 = await cpuMicros(srv.url);
  const answered = r['2xx'] + r.non2xx;
  srv.answered += answered;
  srv.bursts++;
  srv.errors += r.errors + r.timeouts;
  return { rps: answered / (r.duration || seconds), cpuPerRequest: (cpu1 - cpu0) / answered, p99: r.latency.p99 };
}

/**
 * The middlewares alone, in this process: each call gets a fresh request and response (event emitters shaped as express
 * leaves them once a route matched, the same five kinds of request as the load), then the response ends ('finish',
 * 'close'). No network and no express: what each middleware adds to a request, with the objects' cost as the baseline.
 */
type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
const shapes = [
  { method: 'GET', url: '/items/1', route: '/items/:id', baseUrl: '', status: 200 },
  { method: 'GET', url: '/items/2?full=1', route: '/items/:id', baseUrl: '', status: 200 },
  { method: 'GET', url: '/users/7/orders/9', route: '/:user/orders/:order', baseUrl: '/users', status: 200 },
  { method: 'POST', url: '/items', route: '/items', baseUrl: '', status: 201 },
  { method: 'GET', url: '/no/such/page', route: undefined, baseUrl: '', status: 404 },
];
function drive(mw: Middleware | undefined): (n: number) => void {
  const next = () => undefined;
  return (n) => {
    for (let i = 0; i < n; i++) {
      const sh = shapes[i % shapes.length]!;
      const req = Object.assign(new EventEmitter(), { method: sh.method, url: sh.url, originalUrl: sh.url, headers: {}, baseUrl: sh.baseUrl, params: {}, route: sh.route === undefined ? undefined : { path: sh.route } });
      const socket = Object.assign(new EventEmitter(), { writable: true });
      const res = Object.assign(new EventEmitter(), { statusCode: sh.status, headersSent: true, writableEnded: false, socket });
      if (mw !== undefined) mw(req as unknown as IncomingMessage, res as unknown as ServerResponse, next);
      res.writableEnded = true;
      res.emit('finish');
      res.emit('close');
    }
  };
}
const inProcess: Record<Mode, number[]> = { none: [], pipemeter: [], bundle: [] };
{
  const ours = createMeter({ service: 'bench-http', defaultMetrics: false }).http() as Middleware;
  const bundle = promBundle({ includeMethod: true, includePath: true, buckets: [...httpServerSeconds], promRegistry: new Registry() }) as unknown as Middleware;
  const fns: Record<Mode, (n: number) => void> = { none: drive(undefined), pipemeter: drive(ours), bundle: drive(bundle) };
  for (let round = 0; round < IN_PROCESS_ROUNDS; round++) for (const mode of modes) inProcess[mode].push(opsPerSecond(fns[mode], 300));
}
/** Nanoseconds a middleware adds to a request in each round, over the same round's baseline. */
const addedNs = (mode: Mode) => inProcess[mode].map((ops, i) => 1e9 / ops - 1e9 / inProcess.none[i]!);
const nsOurs = addedNs('pipemeter');
const nsTheirs = addedNs('bundle');
process.stdout.write(`in process: pipemeter adds ${median(nsOurs).toFixed(0)} ns, express-prom-bundle ${median(nsTheirs).toFixed(0)} ns per request\n`);

const runs: Record<Mode, Burst[]> = { none: [], pipemeter: [], bundle: [] };
const recordedAt: Partial<Record<Mode, number>> = {};
try {
  for (const mode of modes) servers[mode] = { ...(await start(mode)), answered: 0, bursts: 0, errors: 0 };
  for (const mode of modes) await burst(mode, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order, so no mode always runs first (or last) in a round.
    const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
    for (const mode of order) {
      const b = await burst(mode, SECONDS);
      runs[mode].push(b);
      process.stdout.write(`round ${round + 1}/${ROUNDS} ${mode}: ${fmt(b.rps)} req/s, ${b.cpuPerRequest.toFixed(1)} µs CPU/request\n`);
    }
  }
  for (const mode of modes) recordedAt[mode] = await recorded(servers[mode].url, mode);
} finally {
  for (const mode of modes) if (servers[mode] !== undefined) await stop(servers[mode].child);
}

/** Overhead of a mode in each round: the share of requests/s lost against the same round's run without metrics. */
const overhead = (mode: Mode) => runs[mode].map((r, i) => 1 - r.rps / runs.none[i]!.rps);
/** CPU overhead of a mode in each round: the server's extra CPU time per request over the same round's run without metrics. */
const cpuOverhead = (mode: Mode) => runs[mode].map((r, i) => r.cpuPerRequest / runs.none[i]!.cpuPerRequest - 1);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const pctSpread = (xs: readonly number[]) => `${pct(Math.min(...xs))} to ${pct(Math.max(...xs))}`;
const ours = overhead('pipemeter');
const theirs = overhead('bundle');
const cpuOurs = cpuOverhead('pipemeter');
const cpuTheirs = cpuOverhead('bundle');
/** judge compares two medians of per-round overheads; a baseline overhead at or under 0 is noise, not a measure. */
function judge(o: readonly number[], t: readonly number[]): string {
  const mo = median(o);
  const mt = median(t);
  if (!(mt > 0)) return `not measured: express-prom-bundle's median overhead is ${pct(mt)}, within this run's noise | no verdict`;
  const r = mo / mt;
  return `${r.toFixed(2)}x of it (median overheads ${pct(mo)} vs ${pct(mt)}) | ${r <= 0.5 ? 'yes' : 'NO'}`;
}
/**
 * Requests the server recorded against the responses autocannon counted: each burst stops with one request in flight per
 * connection, which the server answers or closes (and records) but autocannon no longer counts.
 */
const accounted = (mode: Mode) => {
  const srv = servers[mode];
  const want = srv.answered + srv.bursts * CONNECTIONS;
  const got = recordedAt[mode] ?? 0;
  return `${fmt(got)} of ${fmt(srv.answered)} counted + ${srv.bursts} × ${CONNECTIONS} in flight at the stops${got === want ? ': all' : `: ${got - want} off`}`;
};
const errors = modes.reduce((n, m) => n + servers[m].errors, 0);

/** noise says how far the same app's requests/s moved between bursts, which bounds what the end-to-end rows can resolve. */
function noise(): string {
  const rps = runs.none.map((r) => r.rps);
  const swing = Math.max(...rps) / Math.min(...rps);
  return swing < 1.2
    ? `The app without metrics kept within ${pct(swing - 1)} between bursts.`
    : `The app without metrics moved ${swing.toFixed(1)}x between its fastest and slowest burst of this run (other processes shared the ` +
        `machine), so end-to-end differences of a few percent, the size of either middleware's cost, are below what this run resolves; ` +
        `the in-process rows measure the middlewares themselves.`;
}

const row = (mode: Mode, label: string) => {
  const rps = runs[mode].map((r) => r.rps);
  const cpu = runs[mode].map((r) => r.cpuPerRequest);
  const o = mode === 'none' ? '' : `${pct(median(overhead(mode)))} (${pctSpread(overhead(mode))})`;
  const c = mode === 'none' ? '' : `${pct(median(cpuOverhead(mode)))} (${pctSpread(cpuOverhead(mode))})`;
  return `| ${label} | ${fmt(median(rps))} (${spread(rps)}) | ${o} | ${median(cpu).toFixed(1)} µs (${spread(cpu)}) | ${c} | ${fmt(median(runs[mode].map((r) => r.p99)))} ms | ${mode === 'none' ? '' : accounted(mode)} |`;
};

const report = `# HTTP server metrics benchmark

${machine()}; express ${version('express')}, express-prom-bundle ${version('express-prom-bundle')} (prom-client ${version('prom-client')}).
The same express 5 app (bench/http-server.ts) in its own process, one core; autocannon in this one, ${CONNECTIONS} connections over
loopback, cycling through GET /items/:id (twice, one with a query), GET /users/:user/orders/:order (a mounted router), POST /items
with a JSON body and a 404. One server process per mode${TASKSET ? ' (pinned to the second core, autocannon to the first)' : ''}, each warmed up
for ${WARMUP_SECONDS} s, then ${ROUNDS} rounds of a ${SECONDS} s burst per mode in rotating order, so a round's three bursts are seconds apart.
 express-prom-bundle records method, path (its url-value-parser normalisation) and status code into the same
OpenTelemetry buckets, in its own registry; both collect prom-client's default process metrics. Overhead is the share of
requests/s lost against the run without metrics of the same round; CPU overhead is the server's extra CPU time per request
against that run (read with process.cpuUsage() around the measured run), which other processes on a shared machine disturb
less than requests/s. Figures are medians, ranges min to max over rounds.

| app | requests/s | overhead vs none (requests/s) | server CPU per request | CPU overhead vs none | latency p99 (median) | requests recorded by the app's metrics |
|---|---|---|---|---|---|---|
${row('none', 'no metrics')}
${row('pipemeter', 'pipemeter meter.http()')}
${row('bundle', 'express-prom-bundle')}

The middlewares alone, in this process (${IN_PROCESS_ROUNDS} alternating rounds of ~300 ms; each call a fresh request and response shaped as
express leaves them, the same five kinds of request, then 'finish' and 'close'; no network, no express):

| middleware | requests/s through it | added per request (median, range) |
|---|---|---|
| none (the objects alone) | ${fmt(median(inProcess.none))} | |
| pipemeter meter.http() | ${fmt(median(inProcess.pipemeter))} | ${median(nsOurs).toFixed(0)} ns (${spread(nsOurs)}) |
| express-prom-bundle | ${fmt(median(inProcess.bundle))} | ${median(nsTheirs).toFixed(0)} ns (${spread(nsTheirs)}) |

| target | measured | met |
|---|---|---|
| pipemeter's overhead at most half of express-prom-bundle's, in requests/s | ${judge(ours, theirs)} |
| the same, in server CPU per request | ${judge(cpuOurs, cpuTheirs)} |
| the same, the middleware alone in process | ${(median(nsOurs) / median(nsTheirs)).toFixed(2)}x of it (${median(nsOurs).toFixed(0)} ns vs ${median(nsTheirs).toFixed(0)} ns) | ${median(nsOurs) / median(nsTheirs) <= 0.5 ? 'yes' : 'NO'} |

Client errors and timeouts over all runs: ${errors}. Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (${cpus().length} cores).
${noise()}
`;
process.stdout.write(report);
if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/http.md', import.meta.url), report);
