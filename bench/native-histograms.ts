/**
 * Native histograms: quantile error through a real Prometheus (native against the catalog's classic buckets), the
 * cost of observe on a native-enabled histogram against a classic one, heap per series, and the protobuf render
 * against the text renders (ours and prom-client's) and against protobufjs encoding the same messages.
 * Run with --expose-gc. The quantile part needs `prometheus` on PATH (Debian's 2.42); without it that part is skipped.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Histogram as PromHistogram, Registry } from 'prom-client';
import protobuf from 'protobufjs';
import { Random } from '../src/demo/random.js';
import { createMeter } from '../src/index.js';
import type { HistogramSeries } from '../src/meter/series.js';
import { fmt, freePort, machine, median, opsPerSecond, table, timeOnce, type Row } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const MS = Number(process.env.BENCH_MS ?? 300);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100_000);
const RENDER_SERIES = 10_000;
const MEMORY_SERIES = 20_000;
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

/** A log-normal whose 0.1 % and 99.9 % quantiles are 1 ms and 1 h: median sqrt(0.001 * 3600) s. */
const MEDIAN = Math.sqrt(0.001 * 3600);
const SPREAD = Math.exp(Math.log(3600 / 0.001) / 2 / 3.0902);
function logNormal(n: number, seed: number): number[] {
  const rnd = new Random(seed);
  return Array.from({ length: n }, () => rnd.lognormal(MEDIAN, SPREAD));
}
// The hot-path benchmark's values (0 to 70, one of them 0), and log-normal ones.
const HOT_VALUES = Array.from({ length: 64 }, (_, i) => (i * 0.37) % 70);
const LOG_VALUES = logNormal(4096, 7);

// ---- quantile error through a real Prometheus ----

function which(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface QuantileRow {
  q: number;
  exact: number;
  native: number;
  stage: number;
  job: number;
}

async function quantileError(): Promise<{ rows: QuantileRow[]; schema: number; buckets: number; version: string } | string> {
  if (!which('prometheus')) return 'skipped: `prometheus` is not on PATH (Debian package prometheus)';
  const version = spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.replace(/^prometheus, version /, '').replace(/ \(.*$/, '');
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-bench-native-'));
  const meter = createMeter({ defaultMetrics: false });
  const stage = meter.catalog.pipelineStageDuration;
  const job = meter.catalog.pipelineJobDuration;
  stage.zero({ pipeline: 'bench', stage: 'all', outcome: 'success' });
  job.zero({ pipeline: 'bench', outcome: 'completed' });
  const server = await meter.serve({ port: 0, host: '127.0.0.1' });
  const procs: ChildProcess[] = [];
  try {
    writeFileSync(join(dir, 'prometheus.yml'), `global: { scrape_interval: 1s }\nscrape_configs:\n  - { job_name: bench, static_configs: [{ targets: ['127.0.0.1:${server.port}'] }] }\n`);
    const urls: Record<'on' | 'off', string> = { on: '', off: '' };
    for (const world of ['on', 'off'] as const) {
      const port = await freePort();
      urls[world] = `http://127.0.0.1:${port}`;
      const args = [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, world)}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'];
      if (world === 'on') args.push('--enable-feature=native-histograms');
      procs.push(spawn('prometheus', args, { stdio: 'ignore' }));
    }
    const query = async (world: 'on' | 'off', expr: string) => {
      const r = (await (await fetch(`${urls[world]}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { data?: { result: { value: [number, string] }[] } };
      return r.data?.result ?? [];
    };
    const until = async (what: string, ok: () => Promise<boolean>) => {
      const end = Date.now() + 60_000;
      while (!(await ok().catch(() => false))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(250);
      }
    };
    for (const world of ['on', 'off'] as const) await until(`${world} to scrape twice`, async () => (await query(world, 'count_over_time(up[1m]) >= 2')).length === 1);
    const samples = logNormal(SAMPLES, 16);
    const stageLabels = { pipeline: 'bench', stage: 'all', outcome: 'success' } as const;
    const jobLabels = { pipeline: 'bench', outcome: 'completed' } as const;
    for (const v of samples) {
      stage.observe(stageLabels, v);
      job.observe(jobLabels, v);
    }
    const q = (world: 'on' | 'off', quantile: number, expr: string) => query(world, `histogram_quantile(${quantile}, sum by (le) (rate(${expr}[1m])))`).then((r) => Number(r[0]?.value[1]));
    for (const world of ['on', 'off'] as const) {
      const expr = world === 'on' ? 'pipeline_stage_duration_seconds' : 'pipeline_stage_duration_seconds_bucket';
      await until(`${world} to see the observations`, async () => (await q(world, 0.5, expr)) > 0.01);
    }
    // Two more scrapes, so the rate's window holds the observations for certain.
    await sleep(2_500);
    samples.sort((a, b) => a - b);
    const rows: QuantileRow[] = [];
    for (const quantile of [0.5, 0.95, 0.99]) {
      rows.push({
        q: quantile,
        exact: samples[Math.ceil(quantile * samples.length) - 1]!,
        native: await q('on', quantile, 'pipeline_stage_duration_seconds'),
        stage: await q('off', quantile, 'pipeline_stage_duration_seconds_bucket'),
        job: await q('off', quantile, 'pipeline_job_duration_seconds_bucket'),
      });
    }
    const series = meter.getFamily('pipeline_stage_duration_seconds')!.series.values().next().value as HistogramSeries;
    return { rows, schema: series.native!.schema, buckets: series.native!.populated, version };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- observe cost ----

function observeRows(): Row[] {
  const meter = createMeter({ defaultMetrics: false });
  const classic = meter.histogram({ name: 'c_seconds', help: 'Classic.', labels: ['site', 'outcome'], buckets: BUCKETS });
  const native = meter.histogram({ name: 'n_seconds', help: 'Native.', labels: ['site', 'outcome'], buckets: BUCKETS, native: true });
  const LABELS = Array.from({ length: 8 }, (_, i) => ({ site: `site-${i}`, outcome: i % 2 ? 'success' : 'failure' }));
  const bc = classic.labels(LABELS[3]!);
  const bn = native.labels(LABELS[3]!);
  const cases = {
    boundClassicHot: (n: number) => {
      for (let i = 0; i < n; i++) bc.observe(HOT_VALUES[i & 63]!);
    },
    boundNativeHot: (n: number) => {
      for (let i = 0; i < n; i++) bn.observe(HOT_VALUES[i & 63]!);
    },
    boundClassicLog: (n: number) => {
      for (let i = 0; i < n; i++) bc.observe(LOG_VALUES[i & 4095]!);
    },
    boundNativeLog: (n: number) => {
      for (let i = 0; i < n; i++) bn.observe(LOG_VALUES[i & 4095]!);
    },
    labelsClassic: (n: number) => {
      for (let i = 0; i < n; i++) classic.observe(LABELS[i & 7]!, LOG_VALUES[i & 4095]!);
    },
    labelsNative: (n: number) => {
      for (let i = 0; i < n; i++) native.observe(LABELS[i & 7]!, LOG_VALUES[i & 4095]!);
    },
  };
  const res = Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]])) as Record<keyof typeof cases, number[]>;
  for (let r = 0; r < ROUNDS; r++) for (const k of Object.keys(cases) as (keyof typeof cases)[]) res[k].push(opsPerSecond(cases[k], MS));
  // 1.5x the cost is 1/1.5 of the operations per second.
  const target = 0.67;
  return [
    { name: 'observe, bound handle, hot-path values (0..70): native-enabled vs classic', ours: res.boundNativeHot, baseline: res.boundClassicHot, target, unit: 'ops/s' },
    { name: 'observe, bound handle, log-normal 1 ms..1 h: native-enabled vs classic', ours: res.boundNativeLog, baseline: res.boundClassicLog, target, unit: 'ops/s' },
    { name: 'observe by label values, log-normal: native-enabled vs classic', ours: res.labelsNative, baseline: res.labelsClassic, target, unit: 'ops/s' },
  ];
}

// ---- heap per series ----

async function heapPerSeries(native: boolean, observations: number): Promise<number> {
  gc!();
  gc!();
  const before = process.memoryUsage().heapUsed;
  const m = createMeter({ defaultMetrics: false, maxSeries: MEMORY_SERIES + 1 });
  const h = m.histogram({ name: 'x_seconds', help: 'X.', labels: ['site', 'stage'], buckets: BUCKETS, native });
  const labels = Array.from({ length: MEMORY_SERIES }, (_, i) => ({ site: `site-${i >> 4}`, stage: `stage-${i & 15}` }));
  for (let i = 0; i < MEMORY_SERIES; i++) for (let j = 0; j < observations; j++) h.observe(labels[i]!, observations === 1 ? 0.3 : LOG_VALUES[(i * 7 + j) & 4095]!);
  await m.renderChunks(native ? 'protobuf' : 'text');
  gc!();
  gc!();
  const after = process.memoryUsage().heapUsed;
  // The label strings are counted on both sides alike; what differs is the series.
  if (m.getFamily('x_seconds')!.series.size !== MEMORY_SERIES) throw new Error('unreachable');
  return (after - before) / MEMORY_SERIES;
}

async function memory(): Promise<{ what: string; bytes: number; populated?: number }[]> {
  const out: { what: string; bytes: number; populated?: number }[] = [];
  for (const [what, native, n] of [
    ['classic, 12 buckets, one observation', false, 1],
    ['native-enabled, one observation', true, 1],
    ['classic, 12 buckets, 200 log-normal observations', false, 200],
    ['native-enabled, 200 log-normal observations', true, 200],
  ] as const) {
    const xs: number[] = [];
    for (let r = 0; r < 3; r++) xs.push(await heapPerSeries(native, n));
    out.push({ what, bytes: median(xs) });
  }
  // How many native buckets 200 log-normal observations populate, for the row above.
  const m = createMeter({ defaultMetrics: false });
  const h = m.histogram({ name: 'x_seconds', help: 'X.', buckets: BUCKETS, native: true });
  for (let j = 0; j < 200; j++) h.observe({}, LOG_VALUES[j]!);
  out[3]!.populated = (m.getFamily('x_seconds')!.series.values().next().value as HistogramSeries).native!.populated;
  return out;
}

// ---- render ----

async function renderRows(): Promise<{ rows: Row[]; bytes: { protobuf: number; text: number; promClient: number } }> {
  const meter = createMeter({ defaultMetrics: false, maxSeries: RENDER_SERIES + 1 });
  const ours = meter.histogram({ name: 'render_seconds', help: 'Render.', labels: ['site', 'stage'], buckets: BUCKETS, native: true });
  const reg = new Registry();
  const prom = new PromHistogram({ name: 'render_seconds', help: 'Render.', labelNames: ['site', 'stage'], buckets: BUCKETS, registers: [reg] });
  for (let i = 0; i < RENDER_SERIES; i++) {
    const l = { site: `site-${i >> 4}`, stage: `stage-${i & 15}` };
    for (let j = 0; j < 64; j++) {
      const v = LOG_VALUES[(i * 13 + j) & 4095]!;
      ours.observe(l, v);
      prom.observe(l, v);
    }
  }
  // protobufjs encoding the same messages, decoded once from ours: its best case (no series to walk).
  const root = protobuf.loadSync(fileURLToPath(new URL('../../test/fixtures/protobuf/metrics.proto', import.meta.url)));
  const MF = root.lookupType('io.prometheus.client.MetricFamily');
  const body = Buffer.concat(await meter.renderChunks('protobuf'));
  const reader = protobuf.Reader.create(body);
  const messages: protobuf.Message[] = [];
  while (reader.pos < reader.len) messages.push(MF.decodeDelimited(reader));
  const bytes = {
    protobuf: body.length,
    text: Buffer.concat(await meter.renderChunks('text')).length,
    promClient: Buffer.byteLength(await reg.metrics()),
  };

  const renders = 5;
  const timed = async (render: () => Promise<unknown> | unknown) => {
    gc!();
    let ms = 0;
    for (let i = 0; i < renders; i++) ms += await timeOnce(render);
    return (1000 * renders) / ms;
  };
  const ourRender = (format: 'protobuf' | 'text') => async () => {
    const chunks = await meter.renderChunks(format);
    meter.releaseChunks(chunks);
  };
  const res = { pb: [] as number[], text: [] as number[], prom: [] as number[], pbjs: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    res.pb.push(await timed(ourRender('protobuf')));
    res.text.push(await timed(ourRender('text')));
    res.prom.push(await timed(async () => Buffer.byteLength(await reg.metrics())));
    res.pbjs.push(await timed(() => {
      const w = protobuf.Writer.create();
      for (const m of messages) MF.encodeDelimited(m, w);
      return w.finish().length;
    }));
  }
  const n = RENDER_SERIES.toLocaleString('en');
  return {
    rows: [
      { name: `render ${n} native-enabled histogram series: protobuf (native and classic buckets) vs our text`, ours: res.pb, baseline: res.text, target: 0, unit: 'renders/s' },
      { name: `render ${n} histogram series: our protobuf vs prom-client's text`, ours: res.pb, baseline: res.prom, target: 0, unit: 'renders/s' },
      { name: `protobuf of ${n} histogram series: our render from the series vs protobufjs encoding the decoded messages`, ours: res.pb, baseline: res.pbjs, target: 1, unit: 'renders/s' },
    ],
    bytes,
  };
}

// ---- report ----

const pct = (x: number, exact: number) => `${((Math.abs(x - exact) / exact) * 100).toFixed(2)} %`;
const secs = (x: number) => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(3) : x.toFixed(4)) + ' s';

const load = loadavg()[0]!;
const quantiles = await quantileError();
const observe = observeRows();
const mem = await memory();
const render = await renderRows();

const quantileSection =
  typeof quantiles === 'string'
    ? quantiles
    : `${SAMPLES.toLocaleString('en')} samples from a log-normal whose 0.1 % and 99.9 % quantiles are 1 ms and 1 h (median ${MEDIAN.toFixed(2)} s),
observed into \`pipeline_stage_duration_seconds\` (native by default; classic buckets 10 ms..1 h) and
\`pipeline_job_duration_seconds\` (classic buckets 1 s..4 h) of one meter, scraped every second by two Prometheus
${quantiles.version} servers: one with \`--enable-feature=native-histograms\` (protobuf, native form), one without
(classic buckets). Each estimate is \`histogram_quantile(q, sum by (le) (rate(x[1m])))\` from the server; the exact
value is the sample's own quantile. The native series ended at schema ${quantiles.schema}${quantiles.schema < 3 ? ' (the 160-bucket limit lowered it from 3)' : ''}
with ${quantiles.buckets} populated buckets. Target: native <= 3 % at every quantile.

| quantile | exact | native histogram (error) | classic, stage buckets 10 ms..1 h (error) | classic, job buckets 1 s..4 h (error) | target met |
|---|---|---|---|---|---|
${quantiles.rows.map((r) => `| p${r.q * 100} | ${secs(r.exact)} | ${secs(r.native)} (${pct(r.native, r.exact)}) | ${secs(r.stage)} (${pct(r.stage, r.exact)}) | ${secs(r.job)} (${pct(r.job, r.exact)}) | ${Math.abs(r.native - r.exact) / r.exact <= 0.03 ? 'yes' : 'NO'} |`).join('\n')}`;

const report = `# Native histograms benchmark

${machine()}; ${ROUNDS} alternating rounds per case (~${MS} ms each for observe); load average ${load.toFixed(1)} when it started
(other processes share the machine: the ranges show how much the rounds moved).

### Quantile error

${quantileSection}

### Observe cost

A 12-bucket histogram with native buckets too (schema 3, 160 buckets) against the same histogram with classic
buckets only, in the same process. Target: native-enabled observe <= 1.5x the classic observe's cost, i.e. a ratio of
ops/s >= 0.67.

${table(observe)}

### Heap per series

${MEMORY_SERIES.toLocaleString('en')} series with two labels, measured between full GCs after one render, median of 3 rounds (label strings included on every row alike).

| series | heap per series |
|---|---|
${mem.map((m) => `| ${m.what}${m.populated === undefined ? '' : ` (${m.populated} populated native buckets)`} | ${m.bytes.toFixed(0)} B |`).join('\n')}

### Render

${RENDER_SERIES.toLocaleString('en')} series of a 12-bucket histogram with native buckets, 64 log-normal observations each; prom-client holds
the same series and observations (classic buckets only; it has no protobuf or native histograms). Each round renders 5
times after a forced GC; ours to byte chunks as the handler streams them. Only the last row has a target (our encoder,
walking the live series, at least as fast as protobufjs encoding ready-made message objects); the others are reported.

${table(render.rows).replace(/\| >= 0x \| yes \|/g, '| (reported) | |')}

Bytes of one render: protobuf ${fmt(render.bytes.protobuf)} B (native and classic buckets), our text ${fmt(render.bytes.text)} B, prom-client's text ${fmt(render.bytes.promClient)} B.
`;
process.stdout.write(report);
if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/native-histograms.md', import.meta.url), report);
