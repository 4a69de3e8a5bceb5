/**
 * Issue 19's flood at full size: 5 000 000 distinct scraper names, 5 000 000 distinct pipeline names and 5 000 000
 * webhook dedup keys (2 500 000 deliveries, two keys each), through the real listeners of a `pipemeter serve` process
 * with its default limits, while a real Prometheus scrapes it every second. It reports the sidecar's RSS (sampled every
 * second, and its peak), every scrape Prometheus made (failed ones, the slowest), and checks that the overflow counters
 * account for every fold. The baseline is the same sidecar's RSS before the flood. Sizes: FLOOD_NAMES, FLOOD_DELIVERIES.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { fmt, freePort, machine } from './lib.js';

const NAMES = Number(process.env.FLOOD_NAMES ?? 5_000_000);
const DELIVERIES = Number(process.env.FLOOD_DELIVERIES ?? 2_500_000);
/** The documented ceiling (docs/reliability.md): the sidecar's peak RSS under the full flood. */
const RSS_CEILING_MIB = 300;
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'pipemeter-bench-flood-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnLogged(cmd: string, args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let buf = '';
  const keep = (b: Buffer) => {
    buf = (buf + b.toString()).slice(-65_536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, log: () => buf };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const [metricsPort, ingestPort, promPort] = [await freePort(), await freePort(), await freePort()];
writeFileSync(
  join(dir, 'pipemeter.yaml'),
  `listeners:\n  metrics: { host: 127.0.0.1, port: ${metricsPort} }\n  ingest: { port: ${ingestPort} }\npipelines:\n  crawl: { firecrawl: true }\n# Default limits, but one client sends everything: the per-address rate is lifted.\nlimits: { rate: { per_second: 10000000, burst: 10000000 } }\n`,
);
/** Node flags for the sidecar alone (FLOOD_SIDECAR_NODE_FLAGS, e.g. "--max-old-space-size=160"), as an operator sets NODE_OPTIONS. */
const nodeFlags = (process.env.FLOOD_SIDECAR_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const sidecar = spawnLogged(process.execPath, [...nodeFlags, main, 'serve', '--config', join(dir, 'pipemeter.yaml')]);
await waitFor('the sidecar', () => (/ingest on/.test(sidecar.log()) ? true : undefined));
const pid = sidecar.child.pid!;
const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

writeFileSync(
  join(dir, 'prometheus.yml'),
  `global: { scrape_interval: 1s, scrape_timeout: 1s }\nscrape_configs:\n  - job_name: pipemeter\n    static_configs:\n      - targets: ["127.0.0.1:${metricsPort}"]\n`,
);
const prom = spawnLogged('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn']);
const query = async (expr: string): Promise<number> => {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
  return Number(body.data.result[0]?.value[1] ?? NaN);
};
await waitFor('Prometheus to scrape the sidecar twice', async () => ((await query('sum(count_over_time(up{job="pipemeter"}[5m]))')) >= 2 ? true : undefined), 120_000);

const idle = kib('VmRSS');
const rss: number[] = [];
const sampler = setInterval(() => rss.push(kib('VmRSS')), 1000);
/** The sidecar's own answer time for /metrics, measured from here (gzip, as Prometheus asks), once a second. */
const ownScrapes: number[] = [];
let scraping = true;
const ownScraper = (async () => {
  while (scraping) {
    const s0 = performance.now();
    try {
      const res = await request(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { 'accept-encoding': 'gzip' }, headersTimeout: 60_000, bodyTimeout: 60_000 });
      await res.body.arrayBuffer();
      ownScrapes.push(performance.now() - s0);
    } catch {
      ownScrapes.push(Infinity);
    }
    await sleep(Math.max(0, 1000 - (performance.now() - s0)));
  }
})();
const agent = new Agent({ connections: 16, pipelining: 1 });
const ingest = `http://127.0.0.1:${ingestPort}`;
async function post(path: string, body: string, type: string): Promise<void> {
  const res = await request(`${ingest}${path}`, { method: 'POST', headers: { 'content-type': type }, body, dispatcher: agent, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`);
}

const t0 = Date.now();
const phases: string[] = [];
// Events: a scraper name and a pipeline name a line pair, 5 000 lines a request, 4 requests at a time.
const BATCH = 2500;
for (let i = 0; i < NAMES; i += BATCH * 4) {
  await Promise.all(
    [0, 1, 2, 3].map((k) => {
      const from = i + k * BATCH;
      if (from >= NAMES) return Promise.resolve();
      const lines: string[] = [];
      for (let j = from; j < Math.min(NAMES, from + BATCH); j++) {
        lines.push(`{"type":"item_created","scraper":"scraper-${j}","item_type":"track","source":"x.org"}`);
        lines.push(`{"type":"items","pipeline":"pipeline-${j}","outcome":"indexed"}`);
      }
      return post('/v1/events', lines.join('\n'), 'application/x-ndjson');
    }),
  );
}
phases.push(`names ${((Date.now() - t0) / 1000).toFixed(0)} s`);
// Webhooks: a fresh crawl and webhookId per delivery, 32 at a time.
const t1 = Date.now();
for (let i = 0; i < DELIVERIES; i += 32) {
  await Promise.all(
    Array.from({ length: Math.min(32, DELIVERIES - i) }, (_, j) =>
      post('/v1/webhooks/firecrawl/crawl', `{"success":true,"type":"crawl.started","id":"c-${i + j}","webhookId":"w-${i + j}","data":[]}`, 'application/json'),
    ),
  );
}
phases.push(`deliveries ${((Date.now() - t1) / 1000).toFixed(0)} s`);
await sleep(3000);
clearInterval(sampler);
scraping = false;
await ownScraper;
const sortedOwn = [...ownScrapes].sort((a, b) => a - b);
const pct = (p: number) => sortedOwn[Math.min(sortedOwn.length - 1, Math.floor(p * sortedOwn.length))]!;
const seconds = (Date.now() - t0) / 1000;
const peak = kib('VmHWM');
const w = `${Math.ceil(seconds)}s`;
const scrapes = await query(`sum(count_over_time(up{job="pipemeter"}[${w}]))`);
const failed = scrapes - (await query(`sum(sum_over_time(up{job="pipemeter"}[${w}]))`));
const slowest = await query(`max(max_over_time(scrape_duration_seconds{job="pipemeter"}[${w}]))`);
if (process.env.FLOOD_DEBUG) {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(`scrape_duration_seconds{job="pipemeter"}[${w}]`)}`);
  const body = (await res.json()) as { data: { result: { values: [number, string][] }[] } };
  process.stderr.write(`scrapes (s after start: duration): ${body.data.result[0]?.values.map(([t, d]) => `${(t - t0 / 1000).toFixed(0)}:${Number(d).toFixed(2)}`).join(' ')}\n`);
}
const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
const v = (sample: string) => Number(text.split('\n').find((l) => l.startsWith(sample + ' '))?.split(' ')[1] ?? NaN);
const total = (family: string) => text.split('\n').filter((l) => l.startsWith(family + '{')).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
const checks: [string, boolean][] = [
  ['every scraper name counted (own series + overflow)', total('scraper_items_created_total') === NAMES],
  ['every pipeline name counted (own series + overflow)', total('pipeline_items_total') === NAMES],
  [
    'scraper folds = overflow series',
    v('pipemeter_series_overflow_total{metric="scraper_items_created_total"}') === v('scraper_items_created_total{scraper="__overflow__",item_type="__overflow__",source="__overflow__"}'),
  ],
  ['pipeline folds = overflow series', v('pipemeter_series_overflow_total{metric="pipeline_items_total"}') === v('pipeline_items_total{pipeline="__overflow__",outcome="__overflow__"}')],
  ['dedup keys forgotten = keys - table', v('pipemeter_table_evictions_total{table="webhook_dedup"}') === Math.max(0, 2 * DELIVERIES - 100_000)],
  ['no scrape failed', failed === 0],
  [`peak RSS under ${RSS_CEILING_MIB} MiB`, peak < RSS_CEILING_MIB],
];
sidecar.child.kill('SIGTERM');
prom.child.kill('SIGTERM');

const minutesOf = (s: number) => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`);
const heapUsed = v('nodejs_heap_size_used_bytes') / 2 ** 20;
const report = `# Flood benchmark

Issue 19's flood: ${fmt(NAMES)} distinct scraper names and ${fmt(NAMES)} distinct pipeline names as NDJSON events, and
${fmt(DELIVERIES)} Firecrawl deliveries (${fmt(2 * DELIVERIES)} dedup keys), into \`pipemeter serve\` with its default
limits (500 scraper and 100 pipeline handles, 10 000 series a family, 100 000 dedup keys; the per-address rate lifted),
while Prometheus scrapes it every second (timeout 1 s). Node flags of the sidecar: ${nodeFlags.length === 0 ? 'none' : `\`${nodeFlags.join(' ')}\``}. ${machine()}; ${minutesOf(seconds)} (${phases.join(', ')}).
Before issue 19, 1 000 000 pipeline names took RSS from 79 to 803 MB, and about 6 400 000 to 5.9 GB with Prometheus
showing the target down.

| what | figure |
|---|---|
| sidecar RSS before the flood (baseline) | ${idle.toFixed(0)} MiB |
| RSS during the flood, sampled each second: median, max | ${[...rss].sort((a, b) => a - b)[rss.length >> 1]?.toFixed(0)} MiB, ${Math.max(...rss).toFixed(0)} MiB |
| peak RSS (VmHWM) | **${peak.toFixed(0)} MiB** (${(peak / idle).toFixed(1)}x the baseline; ceiling ${RSS_CEILING_MIB} MiB) |
| RSS at the end | ${kibSafe(rss[rss.length - 1])} MiB (V8 heap in use, garbage not yet collected included: ${heapUsed.toFixed(0)} MiB) |
| scrapes by Prometheus during the flood | ${scrapes}, **${failed} failed**, slowest ${(slowest * 1000).toFixed(0)} ms (Prometheus's scrape_duration_seconds) |
| /metrics answered to this process (gzip), once a second: p50, p99, max | ${pct(0.5).toFixed(0)} ms, ${pct(0.99).toFixed(0)} ms, ${sortedOwn[sortedOwn.length - 1]!.toFixed(0)} ms (${ownScrapes.length} scrapes) |
| folds counted (scraper_items_created_total, pipeline_items_total) | ${fmt(v('pipemeter_series_overflow_total{metric="scraper_items_created_total"}'))}, ${fmt(v('pipemeter_series_overflow_total{metric="pipeline_items_total"}'))} |
| dedup keys forgotten (counted) | ${fmt(v('pipemeter_table_evictions_total{table="webhook_dedup"}'))} |

| check | met |
|---|---|
${checks.map(([name, ok]) => `| ${name} | ${ok ? 'yes' : 'NO'} |`).join('\n')}
`;

function kibSafe(x: number | undefined): string {
  return x === undefined ? '?' : x.toFixed(0);
}

process.stdout.write(report);
if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/flood.md', import.meta.url), report);
if (checks.some(([, ok]) => !ok)) process.exitCode = 1;
