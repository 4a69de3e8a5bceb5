/** Shared helpers for the deploy tests: the committed files, temp copies for the real tools, and PromQL name extraction. */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { afterEach } from 'vitest';
import { parse } from 'yaml';
import type { CliIO } from '../../src/cli/command.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function readCommitted(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

export function readYaml<T = any>(path: string): T {
  return parse(readCommitted(path)) as T;
}

/** tempCopy copies deploy/ into a fresh temp dir, so tools can be pointed at files next to their dummies. */
export function tempCopy(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-deploy-'));
  cpSync(join(repoRoot, 'deploy'), join(dir, 'deploy'), { recursive: true });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * runAsync runs a binary without blocking the event loop, so several tool runs go in parallel; bounded by a timeout
 * long enough for `promtool test rules` on the seven-day cases when a two-core machine runs other test files too.
 */
export function runAsync(cmd: string, args: readonly string[], cwd?: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, timeout: 170_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      done({ code, out: `${stdout}${stderr}` });
    });
  });
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/**
 * metricNames extracts the metric names a PromQL expression selects: strings, label matchers, ranges and
 * grouping clauses are removed first, then every identifier that is not a function call or keyword is a name.
 */
export function metricNames(expr: string): string[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of e.matchAll(/(?<![0-9.a-zA-Z_:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call === undefined && name !== undefined && !KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** cliIO gives a command in-memory stdout and stderr, and reads what it wrote to each. */
export function cliIO(): { cli: CliIO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = (s: PassThrough) => () => (s.read() as Buffer | null)?.toString() ?? '';
  return { cli: { stdout, stderr, isTTY: false, env: {} }, out: text(stdout), err: text(stderr) };
}

/** tempDirs returns a maker of temp dirs, each removed after the test that made it. Call it at a file's top level. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}
