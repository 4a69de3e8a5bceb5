/**
 * The package as a user installs it: `npm pack`, installed in an empty project with only typescript and @types/node
 * beside it; a consumer of all three entries type-checks with strict and skipLibCheck off, and runs.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCli } from './helpers/tools.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = join(root, 'test/fixtures/consumer');
const dir = mkdtempSync(join(tmpdir(), 'pipemeter-consumer-'));

function sh(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The version of a dev dependency as installed here, so the consumer's install comes from npm's cache. */
const installed = (name: string) => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

describe('the packed package in a fresh TypeScript project', () => {
  beforeAll(() => {
    builtCli();
    // --ignore-scripts: dist/ is built already, and rebuilding it would race the test files that run it.
    const pack = sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], root);
    expect(pack.code, pack.out).toBe(0);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(join(dir, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
    const install = sh(
      'npm',
      ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', `./${tgz}`, `typescript@${installed('typescript')}`, `@types/node@${installed('@types/node')}`],
      dir,
    );
    expect(install.code, install.out).toBe(0);
    for (const f of ['consumer.ts', 'tsconfig.json']) copyFileSync(join(fixture, f), join(dir, f));
  }, 200_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs nothing beside pipemeter but its runtime dependencies, typescript and @types/node', () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules/pipemeter/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const top = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(top.dependencies).sort()).toEqual(['@types/node', 'pipemeter', 'typescript']);
    expect(Object.keys(pkg.dependencies)).not.toContain('@types/express');
  });

  it('type-checks a consumer of pipemeter, pipemeter/sidecar and pipemeter/deploy (strict, skipLibCheck false, module nodenext)', () => {
    const tsc = sh(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', '.'], dir);
    expect(tsc.out).toBe('');
    expect(tsc.code).toBe(0);
  }, 120_000);

  it('runs it: a meter scrapes, the sidecar builds from a config, and the generators find their rule cases in the package', () => {
    const r = sh(process.execPath, ['out/consumer.js'], dir);
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ families: expect.any(Number), handler: 'function', sidecar: 'function', files: expect.any(Number), text: true });
  }, 60_000);
});
