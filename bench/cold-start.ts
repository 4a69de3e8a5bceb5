/**
 * Cold start: a fresh process imports pipemeter, makes a meter, one counter and one scrape, against prom-client's
 * Registry with its default collectors doing the same (bench/cold-start/*.mjs), alternating, in the same run.
 * Reported: time from process start and heap after a full GC, medians of fresh processes. Target: within 1.5x of
 * prom-client's, both. It imports the built package (dist/), as a user's process does.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, spread } from './lib.js';

export interface ColdStart {
  ms: number;
  heapBytes: number;
}

export interface ColdStartResult {
  pipemeter: ColdStart[];
  promClient: ColdStart[];
}

/** The repository root, from bench/ or from .bench-build/bench/. */
function repoRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/.bench-build/') ? fileURLToPath(new URL('../../', import.meta.url)) : fileURLToPath(new URL('../', import.meta.url));
}

function once(script: 'pipemeter' | 'prom-client'): ColdStart {
  const root = repoRoot();
  const r = spawnSync(process.execPath, ['--expose-gc', `bench/cold-start/${script}.mjs`], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`cold start of ${script} failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ColdStart;
}

/** coldStarts runs `runs` fresh processes of each, alternating so that the machine's load falls on both alike. */
export function coldStarts(runs: number): ColdStartResult {
  const out: ColdStartResult = { pipemeter: [], promClient: [] };
  // One of each first, not counted: the file system cache warms for both.
  once('pipemeter');
  once('prom-client');
  for (let i = 0; i < runs; i++) {
    out.pipemeter.push(once('pipemeter'));
    out.promClient.push(once('prom-client'));
  }
  return out;
}

/** ratios are pipemeter's medians over prom-client's. */
export function ratios(r: ColdStartResult): { time: number; heap: number } {
  return {
    time: median(r.pipemeter.map((x) => x.ms)) / median(r.promClient.map((x) => x.ms)),
    heap: median(r.pipemeter.map((x) => x.heapBytes)) / median(r.promClient.map((x) => x.heapBytes)),
  };
}

export const TARGET_RATIO = 1.5;

function report(r: ColdStartResult, runs: number): string {
  const { time, heap } = ratios(r);
  const ms = (xs: ColdStart[]) => xs.map((x) => x.ms);
  const mb = (xs: ColdStart[]) => xs.map((x) => x.heapBytes / 1e6);
  const met = (x: number) => (x <= TARGET_RATIO ? 'yes' : 'NO');
  return `# Cold-start benchmark

${machine()}; ${runs} fresh processes of each, alternating: import the package, create a meter (or a prom-client
Registry with collectDefaultMetrics), one counter, one scrape. Time is from process start (Node's own start-up
included, the same for both); heap is heapUsed after a full GC. Medians, with the range.

| | pipemeter | prom-client | ratio | target | met |
|---|---|---|---|---|---|
| time | ${median(ms(r.pipemeter)).toFixed(0)} ms (${spread(ms(r.pipemeter))}) | ${median(ms(r.promClient)).toFixed(0)} ms (${spread(ms(r.promClient))}) | ${time.toFixed(2)}x | <= ${TARGET_RATIO}x | ${met(time)} |
| heap | ${median(mb(r.pipemeter)).toFixed(1)} MB (${spread(mb(r.pipemeter))}) | ${median(mb(r.promClient)).toFixed(1)} MB (${spread(mb(r.promClient))}) | ${heap.toFixed(2)}x | <= ${TARGET_RATIO}x | ${met(heap)} |
`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const text = report(coldStarts(runs), runs);
  process.stdout.write(text);
  if (process.argv.includes('--write')) writeFileSync(join(repoRoot(), 'bench/results/cold-start.md'), text);
}
