/** The Python side of the tests: Debian's /usr/bin/python3 with its packages, scripts run with the package on PYTHONPATH, a real `pipemeter serve`. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { builtCli } from '../helpers/tools.js';
import { until as poll } from '../e2e/helpers/poll.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const fixtures = join(repoRoot, 'test/python/fixtures');

/**
 * Debian's python3, not the one on PATH: a pyenv python on PATH does not see the Debian packages
 * (python3-prometheus-client, python3-scrapy, python3-celery, python3-redis, python3-pytest) that .ci/run installs.
 */
export const PYTHON = process.env.PIPEMETER_TEST_PYTHON ?? '/usr/bin/python3';

/** The environment a Python script runs in: the package from python/, nothing from the user's site. */
export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: join(repoRoot, 'python'), PYTHONDONTWRITEBYTECODE: '1', PYTHONNOUSERSITE: '1', ...extra };
}

function missingModules(modules: readonly string[]): string[] {
  return modules.filter((m) => spawnSync(PYTHON, ['-c', `import ${m}`], { encoding: 'utf8', env: pythonEnv() }).status !== 0);
}

/**
 * describeWithPython runs the suite when PYTHON imports every module (and the binaries are on PATH); without
 * them it skips and says why, and under CI=true it fails instead, as describeWithTools does for binaries.
 */
export function describeWithPython(modules: readonly string[], binaries: readonly string[], name: string, fn: () => void): void {
  const missing = [
    ...missingModules(modules).map((m) => `the Python module ${m}`),
    ...binaries.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0),
  ];
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const why = `needs ${missing.join(', ')} for ${PYTHON} (Debian packages python3-prometheus-client, python3-scrapy, python3-celery, python3-redis, python3-pytest, prometheus, redis-server)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      throw new Error(`${name}: ${why}; under CI=true these tests must run, not skip`);
    });
    return;
  }
  console.warn(`skipping "${name}": ${why}`);
  describe.skip(name, fn);
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** runPython runs a script (or `-m module`) to completion, with a deadline, and returns its output. */
export function runPython(args: readonly string[], opts: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, { cwd: opts.cwd ?? repoRoot, env: pythonEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface Serve {
  metricsUrl: string;
  ingestUrl: string;
  log(): string;
  stop(): Promise<void>;
}

/** startServe runs the built `pipemeter serve` on free ports with the given YAML (listeners are filled in). */
export async function startServe(yaml = ''): Promise<Serve> {
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-py-serve-'));
  const file = join(dir, 'pipemeter.yaml');
  writeFileSync(file, `listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\n${yaml}`);
  const child: ChildProcess = spawn('node', [builtCli(), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/ingest on (\S+)\/v1\/events/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
  const ingest = /ingest on (\S+)\/v1\/events/.exec(out)?.[1];
  const metrics = /metrics on (\S+),/.exec(out)?.[1];
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (ingest === undefined || metrics === undefined) {
    await stop();
    throw new Error(`pipemeter serve did not start:\n${out}`);
  }
  return { metricsUrl: metrics, ingestUrl: ingest, log: () => out, stop };
}

/** sampleValue reads one sample of a text exposition by exact name and label set (order-free); undefined when absent. */
export function sampleValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!] as const).sort(([a], [b]) => a.localeCompare(b));
    out.set(key(m[1]!, Object.fromEntries(labels)), Number(m[3]));
  }
  return out;
}

/** key names one series: its sample name and its labels in name order. */
export function key(name: string, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return `${name}{${l}}`;
}

/** until is the e2e suite's bounded poll with this suite's defaults: 20 s, every 100 ms, the process log on timeout. */
export function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000, detail: () => string = () => ''): Promise<T> {
  return poll(what, fn, { ms, everyMs: 100, detail });
}
