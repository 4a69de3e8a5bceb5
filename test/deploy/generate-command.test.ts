/** `pipemeter generate`: writes every file under --out, and --check lists drifted files with exit 1. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/command.js';
import { generate } from '../../src/cli/commands/generate.js';
import { generateAll } from '../../src/deploy/index.js';
import { defaults } from '../../src/deploy/settings.js';
import { cliIO, tempDirs } from './helpers.js';

const tempDir = tempDirs('pipemeter-generate-');

describe('pipemeter generate', () => {
  it('writes every generated file under --out', async () => {
    const out = tempDir();
    const t = cliIO();
    expect(await generate.run(['--out', out], t.cli)).toBe(0);
    for (const f of generateAll(defaults)) expect(readFileSync(join(out, f.path), 'utf8')).toBe(f.content);
  });

  it('--check passes on fresh output and lists an edited and a missing file with exit 1', async () => {
    const out = tempDir();
    await generate.run(['--out', out], cliIO().cli);
    const clean = cliIO();
    expect(await generate.run(['--out', out, '--check'], clean.cli)).toBe(0);

    writeFileSync(join(out, 'deploy/prometheus/rules/alerts.yml'), '# edited by hand\n');
    rmSync(join(out, 'docs/runbooks.md'));
    const drift = cliIO();
    expect(await generate.run(['--out', out, '--check'], drift.cli)).toBe(1);
    const err = drift.err();
    expect(err).toContain('deploy/prometheus/rules/alerts.yml');
    expect(err).toContain('docs/runbooks.md');
    expect(err).not.toContain('prometheus.yml\n');
  });

  it('rejects an unknown option as a usage error', async () => {
    await expect(generate.run(['--outt', 'x'], cliIO().cli)).rejects.toBeInstanceOf(UsageError);
  });
});

describe('pipemeter generate, unwritable output', () => {
  it('says which path it cannot write and how to fix it', async () => {
    const out = tempDir();
    writeFileSync(join(out, 'deploy'), 'a file where a directory must go');
    await expect(generate.run(['--out', out], cliIO().cli)).rejects.toThrow(/cannot write .*deploy.*choose a writable --out/);
  });
});
