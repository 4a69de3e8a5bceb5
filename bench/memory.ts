/**
 * Memory: heap bytes per series after 100k series, pipemeter against prom-client (and OpenTelemetry),
 * counters and 12-bucket histograms. Run with --expose-gc; each case is measured between two full GCs.
 */
import { writeFileSync } from 'node:fs';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Counter as PromCounter, Histogram as PromHistogram, Registry } from 'prom-client';
import { createMeter } from '../src/index.js';
import { machine, median } from './lib.js';

const N = Number(process.env.BENCH_SERIES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

// Label value strings are made once and shared by every case, so they are not counted to anyone; each call
// passes a fresh labels object, as instrumented code does (\`c.inc({ site, stage })\`).
const LABELS = Array.from({ length: N }, (_, i) => ({ site: `site-${i >> 4}`, stage: `stage-${i & 15}` }));

class PullReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

type Case = () => Promise<unknown>;
const cases: Record<string, { counter: Case; histogram: Case }> = {
  pipemeter: {
    counter: async () => {
      const m = createMeter({ defaultMetrics: false, maxSeries: N + 1 });
      const c = m.counter({ name: 'x_total', help: 'X.', labels: ['site', 'stage'] });
      for (const l of LABELS) c.inc({ site: l.site, stage: l.stage });
      await m.renderChunks('text'); // measured after a scrape: whatever a render caches per series counts too
      return m;
    },
    histogram: async () => {
      const m = createMeter({ defaultMetrics: false, maxSeries: N + 1 });
      const h = m.histogram({ name: 'x_seconds', help: 'X.', labels: ['site', 'stage'], buckets: BUCKETS });
      for (const l of LABELS) h.observe({ site: l.site, stage: l.stage }, 0.3);
      await m.renderChunks('text');
      return m;
    },
  },
  'prom-client': {
    counter: async () => {
      const r = new Registry();
      const c = new PromCounter({ name: 'x_total', help: 'X.', labelNames: ['site', 'stage'], registers: [r] });
      for (const l of LABELS) c.inc({ site: l.site, stage: l.stage });
      await r.metrics();
      return r;
    },
    histogram: async () => {
      const r = new Registry();
      const h = new PromHistogram({ name: 'x_seconds', help: 'X.', labelNames: ['site', 'stage'], buckets: BUCKETS, registers: [r] });
      for (const l of LABELS) h.observe({ site: l.site, stage: l.stage }, 0.3);
      await r.metrics();
      return r;
    },
  },
  opentelemetry: {
    counter: async () => {
      // The SDK caps a stream at 2000 series by default and folds the rest: lift it, or it would measure the cap.
      const reader = new PullReader({ cardinalitySelector: () => N + 1 });
      const c = new MeterProvider({ readers: [reader] }).getMeter('m').createCounter('x');
      for (const l of LABELS) c.add(1, { site: l.site, stage: l.stage });
      await reader.collect(); // the SDK keeps cumulative state per series once collected, as a scrape does
      return reader;
    },
    histogram: async () => {
      // The SDK caps a stream at 2000 series by default and folds the rest: lift it, or it would measure the cap.
      const reader = new PullReader({ cardinalitySelector: () => N + 1 });
      const h = new MeterProvider({ readers: [reader] }).getMeter('m').createHistogram('x', { advice: { explicitBucketBoundaries: BUCKETS } });
      for (const l of LABELS) h.record(0.3, { site: l.site, stage: l.stage });
      await reader.collect();
      return reader;
    },
  },
};

async function bytesPerSeries(make: Case): Promise<number> {
  gc!();
  gc!();
  const before = process.memoryUsage().heapUsed;
  const keep = await make();
  gc!();
  gc!();
  const after = process.memoryUsage().heapUsed;
  if (keep === undefined) throw new Error('unreachable');
  return (after - before) / N;
}

const out: Record<string, Record<string, number>> = {};
for (const [lib, c] of Object.entries(cases)) {
  out[lib] = {};
  for (const kind of ['counter', 'histogram'] as const) {
    const xs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) xs.push(await bytesPerSeries(c[kind]));
    out[lib]![kind] = median(xs);
  }
}
const row = (lib: string) => `| ${lib} | ${out[lib]!.counter!.toFixed(0)} B | ${out[lib]!.histogram!.toFixed(0)} B |`;
const target = out.pipemeter!.counter! <= 300;
const report = `# Memory benchmark

${machine()}; heap bytes per series after ${N.toLocaleString('en')} series with two labels, measured between full GCs,
median of ${ROUNDS} rounds. Label value strings are shared by all cases and not counted; each call passes
a fresh labels object, as instrumented code does. Each library is scraped (rendered, or collected) once before
measuring, so what a scrape leaves behind per series counts too.

| library | per counter series | per 12-bucket histogram series |
|---|---|---|
${row('pipemeter')}
${row('prom-client')}
${row('opentelemetry')}

Target: a pipemeter counter series <= 300 B: ${target ? 'met' : 'NOT met'}.
`;
process.stdout.write(report);
if (process.argv.includes('--write')) writeFileSync(new URL('../../bench/results/memory.md', import.meta.url), report);
