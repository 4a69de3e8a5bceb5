/** Benchmark helpers: time-bounded loops, repeated rounds, medians and ratios against a baseline run in the same process. */
import { createServer } from 'node:net';
import { cpus } from 'node:os';

export interface Measure {
  /** Operations per second in each round. */
  rounds: number[];
}

/** opsPerSecond runs fn(n) in batches for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(fn: (n: number) => void, ms: number): number {
  let n = 1_000;
  // Warm up and size the batch to ~10 ms.
  for (;;) {
    const t0 = performance.now();
    fn(n);
    const dt = performance.now() - t0;
    if (dt > 10) break;
    n *= 2;
  }
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn(n);
    ops += n;
    now = performance.now();
  }
  return (ops / (now - start)) * 1000;
}

/** timeOnce returns the milliseconds one call of fn takes (fn may be async). */
export async function timeOnce(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(xs: readonly number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${fmt(s[0]!)}–${fmt(s[s.length - 1]!)}`;
}

export function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  if (x >= 10) return x.toFixed(0);
  return x.toFixed(2);
}

export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

/** Row of a results table: a comparison of ours against a baseline, per-round ratios. */
export interface Row {
  name: string;
  ours: number[];
  baseline: number[];
  /** Ratio target (ours / baseline must be at least this). */
  target: number;
  unit: string;
}

export function table(rows: readonly Row[]): string {
  const out = [
    '| benchmark | pipemeter (median, range) | baseline (median, range) | ratio (median of rounds) | target | met |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const ratios = r.ours.map((o, i) => o / r.baseline[i]!);
    const ratio = median(ratios);
    out.push(
      `| ${r.name} | ${fmt(median(r.ours))} ${r.unit} (${spread(r.ours)}) | ${fmt(median(r.baseline))} ${r.unit} (${spread(r.baseline)}) | ${ratio.toFixed(1)}x (${spread(ratios)}) | >= ${r.target}x | ${ratio >= r.target ? 'yes' : 'NO'} |`,
    );
  }
  return out.join('\n');
}

/** freePort asks the kernel for a free TCP port on loopback (for a server a benchmark starts in another process). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}
