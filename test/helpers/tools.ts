/** Real binaries for tests: found on PATH, skipped with a reason on a laptop without them, required under CI=true. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The newest modification time of any file under a directory. */
function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
}

/**
 * builtCli returns the path of the built CLI (dist/cli/main.js). `npm test` builds first (pretest), so
 * this builds only when a file runs alone with dist/ missing or older than src/: rewriting dist/ while
 * other test files run it could hand them a half-written module.
 */
export function builtCli(): string {
  const main = join(repoRoot, 'dist/cli/main.js');
  if (!existsSync(main) || statSync(main).mtimeMs < newest(join(repoRoot, 'src'))) {
    spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  }
  return main;
}

/** which returns the path of a binary on PATH, or undefined. */
export function which(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p !== '' ? p : undefined;
}

/** The Debian package that installs each binary the tests run (`.ci/run` installs them). */
const debianPackage: Record<string, string> = {
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
};

/** A requirement that is not a binary on PATH, e.g. a Python module in Debian's python3. */
export interface Requirement {
  name: string;
  /** The Debian package that provides it. */
  package: string;
  present(): boolean;
}

/** pythonWithPrometheusClient is Debian's /usr/bin/python3 with python3-prometheus-client (pyenv's python3 on PATH may lack it). */
export const pythonWithPrometheusClient: Requirement & { python: string } = {
  name: '/usr/bin/python3 with prometheus_client',
  package: 'python3-prometheus-client',
  python: '/usr/bin/python3',
  present: () => spawnSync('/usr/bin/python3', ['-c', 'import prometheus_client'], { encoding: 'utf8' }).status === 0,
};

/**
 * describeWithTools runs the suite when every binary is on PATH (and every other requirement is met). Without them
 * it skips and says why; under CI=true a missing one fails the suite instead of skipping it.
 */
export function describeWithTools(tools: readonly (string | Requirement)[], name: string, fn: () => void): void {
  const missing = tools.filter((t) => (typeof t === 'string' ? which(t) === undefined : !t.present()));
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const names = missing.map((t) => (typeof t === 'string' ? t : t.name));
  const packages = [...new Set(missing.map((t) => (typeof t === 'string' ? (debianPackage[t] ?? t) : t.package)))];
  const why = `needs ${names.join(', ')} (Debian package${packages.length === 1 ? '' : 's'} ${packages.join(', ')})`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      throw new Error(`${name}: ${why}; under CI=true these tests must run, not skip`);
    });
    return;
  }
  console.warn(`skipping "${name}": ${why}`);
  describe.skip(name, fn);
}

/** run runs a binary with optional stdin and returns its exit code and output. */
export function run(cmd: string, args: readonly string[], opts: { input?: string; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** promtoolCheckMetrics lints exposition text with `promtool check metrics`; returns its findings (empty when clean). */
export function promtoolCheckMetrics(text: string): { code: number; findings: string } {
  const r = run('promtool', ['check', 'metrics'], { input: text });
  return { code: r.code, findings: (r.stdout + r.stderr).trim() };
}

/** freePort asks the kernel for a free loopback port, for binaries that need a port up front (the benchmarks' helper). */
export { freePort } from '../../bench/lib.js';
