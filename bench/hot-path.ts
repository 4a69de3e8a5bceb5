/**
 * Hot path: pipemeter's recording and rendering against raw prom-client, measured in the same process,
 * in alternating rounds, reported as ratios (never asserted by a timed unit test).
 */
import { writeFileSync } from 'node:fs';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Counter as PromCounter, Histogram as PromHistogram, Registry } from 'prom-client';
import { createMeter } from '../src/index.js';
import { type Row, machine, median, opsPerSecond, table, timeOnce } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const MS = Number(process.env.BENCH_MS ?? 300);
const RENDERS_PER_ROUND = 5;
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

// Eight label sets cycled through, as a worker cycling over a few sites and outcomes would.
const LABELS = Array.from({ length: 8 }, (_, i) => ({ site: `site-${i}`, outcome: i % 2 ? 'success' : 'failure' }));
const VALUES = Array.from({ length: 64 }, (_, i) => (i * 0.37) % 70);

function recordingRows(): Row[] {
  const meter = createMeter({ defaultMetrics: false });
  const ours = meter.counter({ name: 'bench_total', help: 'Bench.', labels: ['site', 'outcome'] });
  const oursH = meter.histogram({ name: 'bench_seconds', help: 'Bench.', labels: ['site', 'outcome'], buckets: BUCKETS });
  const bound = ours.labels(LABELS[3]!);
  const boundH = oursH.labels(LABELS[3]!);
  const reg = new Registry();
  const prom = new PromCounter({ name: 'bench_total', help: 'Bench.', labelNames: ['site', 'outcome'], registers: [reg] });
  const promH = new PromHistogram({ name: 'bench_seconds', help: 'Bench.', labelNames: ['site', 'outcome'], buckets: BUCKETS, registers: [reg] });

  // OpenTelemetry aggregates only for instruments a reader collects: a pull reader, as a Prometheus exporter is.
  class PullReader extends MetricReader {
    protected override async onForceFlush(): Promise<void> {}
    protected override async onShutdown(): Promise<void> {}
  }
  const otel = new MeterProvider({ readers: [new PullReader()] }).getMeter('bench');
  const otelC = otel.createCounter('bench');
  const otelH = otel.createHistogram('bench_seconds', { advice: { explicitBucketBoundaries: BUCKETS } });

  const cases = {
    boundInc: (n: number) => {
      for (let i = 0; i < n; i++) bound.inc();
    },
    byLabelsInc: (n: number) => {
      for (let i = 0; i < n; i++) ours.inc(LABELS[i & 7]!);
    },
    promInc: (n: number) => {
      for (let i = 0; i < n; i++) prom.inc(LABELS[i & 7]!);
    },
    observe: (n: number) => {
      for (let i = 0; i < n; i++) oursH.observe(LABELS[i & 7]!, VALUES[i & 63]!);
    },
    boundObserve: (n: number) => {
      for (let i = 0; i < n; i++) boundH.observe(VALUES[i & 63]!);
    },
    promObserve: (n: number) => {
      for (let i = 0; i < n; i++) promH.observe(LABELS[i & 7]!, VALUES[i & 63]!);
    },
    otelAdd: (n: number) => {
      for (let i = 0; i < n; i++) otelC.add(1, LABELS[i & 7]!);
    },
    otelRecord: (n: number) => {
      for (let i = 0; i < n; i++) otelH.record(VALUES[i & 63]!, LABELS[i & 7]!);
    },
  };
  const res: Record<keyof typeof cases, number[]> = { boundInc: [], byLabelsInc: [], promInc: [], observe: [], boundObserve: [], promObserve: [], otelAdd: [], otelRecord: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of Object.keys(cases) as (keyof typeof cases)[]) res[k].push(opsPerSecond(cases[k], MS));
  }
  // Keep the results alive so no loop is optimised away.
  if (bound.value < 0 || prom === undefined) throw new Error('unreachable');
  return [
    { name: 'counter inc, bound handle vs prom-client labelled inc()', ours: res.boundInc, baseline: res.promInc, target: 20, unit: 'ops/s' },
    { name: 'counter inc by label values vs prom-client labelled inc()', ours: res.byLabelsInc, baseline: res.promInc, target: 4, unit: 'ops/s' },
    { name: 'histogram observe by label values vs prom-client labelled observe()', ours: res.observe, baseline: res.promObserve, target: 4, unit: 'ops/s' },
    { name: 'histogram observe, bound handle vs prom-client labelled observe()', ours: res.boundObserve, baseline: res.promObserve, target: 4, unit: 'ops/s' },
    { name: 'counter inc, bound handle vs OpenTelemetry counter.add()', ours: res.boundInc, baseline: res.otelAdd, target: 20, unit: 'ops/s' },
    { name: 'counter inc by label values vs OpenTelemetry counter.add()', ours: res.byLabelsInc, baseline: res.otelAdd, target: 4, unit: 'ops/s' },
    { name: 'histogram observe by label values vs OpenTelemetry histogram.record()', ours: res.observe, baseline: res.otelRecord, target: 4, unit: 'ops/s' },
  ];
}

async function renderRow(series: number): Promise<Row> {
  const meter = createMeter({ defaultMetrics: false, maxSeries: series + 1 });
  const ours = meter.histogram({ name: 'render_seconds', help: 'Render.', labels: ['site', 'stage'], buckets: BUCKETS });
  const reg = new Registry();
  const prom = new PromHistogram({ name: 'render_seconds', help: 'Render.', labelNames: ['site', 'stage'], buckets: BUCKETS, registers: [reg] });
  for (let i = 0; i < series; i++) {
    const l = { site: `site-${i >> 4}`, stage: `stage-${i & 15}` };
    ours.observe(l, VALUES[i & 63]!);
    prom.observe(l, VALUES[i & 63]!);
  }
  const o: number[] = [];
  const b: number[] = [];
  const gc = (globalThis as { gc?: () => void }).gc;
  const timed = async (render: () => Promise<string>) => {
    gc?.(); // start each side from a collected heap, so one side does not pay for the other's garbage
    let ms = 0;
    for (let i = 0; i < RENDERS_PER_ROUND; i++) ms += await timeOnce(async () => Buffer.byteLength(await render()));
    return (1000 * RENDERS_PER_ROUND) / ms;
  };
  for (let r = 0; r < ROUNDS; r++) {
    o.push(await timed(() => meter.metrics()));
    b.push(await timed(() => reg.metrics()));
  }
  return { name: `render ${series.toLocaleString('en')} histogram series (12 buckets), text, to bytes`, ours: o, baseline: b, target: 5, unit: 'renders/s' };
}

const rows = [...recordingRows(), await renderRow(10_000)];
const report = `# Hot-path benchmark

${machine()}; ${ROUNDS} alternating rounds of ~${MS} ms per case. Baselines in the same process: prom-client
${(await import('prom-client/package.json', { with: { type: 'json' } })).default.version} and @opentelemetry/sdk-metrics ${(await import('@opentelemetry/sdk-metrics/package.json', { with: { type: 'json' } })).default.version} (with a pull reader, as a Prometheus exporter uses it).
Figures are medians, ranges are min–max over rounds; ratios are medians of per-round ratios.

${table(rows)}
`;
process.stdout.write(report);
if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/hot-path.md', import.meta.url), report);
const missed = rows.filter((r) => median(r.ours.map((x, i) => x / r.baseline[i]!)) < r.target);
if (missed.length > 0) process.stdout.write(`\nmissed targets: ${missed.map((r) => r.name).join('; ')}\n`);
