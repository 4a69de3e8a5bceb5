/** `pipemeter generate`: writes every file under --out, and --check lists drifted files with exit 1. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIO, UsageError } from '../../src/cli/command.js';
import { generate } from '../../src/cli/commands/generate.js';
import { generateAll } from '../../src/deploy/index.js';
import { defaults } from '../../src/deploy/settings.js';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = (s: PassThrough) => () => (s.read() as Buffer | null)?.toString() ?? '';
  const cli: CliIO = { stdout, stderr, isTTY: false, env: {} };
  return { cli, out: text(stdout), err: text(stderr) };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pipemeter-generate-'));
  dirs.push(d);
  return d;
}

describe('pipemeter generate', () => {
  it('writes every generated file under --out', async () => {
    const out = tempDir();
    const t = io();
    expect(await generate.run(['--out', out], t.cli)).toBe(0);
    for (const f of generateAll(defaults)) expect(readFileSync(join(out, f.path), 'utf8')).toBe(f.content);
  });

  it('--check passes on fresh output and lists an edited and a missing file with exit 1', async () => {
    const out = tempDir();
    await generate.run(['--out', out], io().cli);
    const clean = io();
    expect(await generate.run(['--out', out, '--check'], clean.cli)).toBe(0);

    writeFileSync(join(out, 'deploy/prometheus/rules/alerts.yml'), '# edited by hand\n');
    rmSync(join(out, 'docs/runbooks.md'));
    const drift = io();
    expect(await generate.run(['--out', out, '--check'], drift.cli)).toBe(1);
    const err = drift.err();
    expect(err).toContain('deploy/prometheus/rules/alerts.yml');
    expect(err).toContain('docs/runbooks.md');
    expect(err).not.toContain('prometheus.yml\n');
  });

  it('rejects an unknown option as a usage error', async () => {
    await expect(generate.run(['--outt', 'x'], io().cli)).rejects.toBeInstanceOf(UsageError);
  });
});

describe('pipemeter generate, unwritable output', () => {
  it('says which path it cannot write and how to fix it', async () => {
    const out = tempDir();
    writeFileSync(join(out, 'deploy'), 'a file where a directory must go');
    await expect(generate.run(['--out', out], io().cli)).rejects.toThrow(/cannot write .*deploy.*choose a writable --out/);
  });
});
