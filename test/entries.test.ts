/**
 * The package's entries, as a user's process loads them: `pipemeter` is the library and loads prom-client's tree and
 * nothing else; `pipemeter/sidecar` and `pipemeter/deploy` carry the server and the generators.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtCli } from './helpers/tools.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** dependencyTree lists a package and every package its runtime dependencies pull in, as installed under node_modules. */
function dependencyTree(name: string, seen = new Set<string>()): Set<string> {
  if (seen.has(name)) return seen;
  seen.add(name);
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies ?? {})) dependencyTree(dep, seen);
  return seen;
}

/** loaded imports one entry in a fresh process and returns the npm packages the process loaded. */
function loaded(entry: string): string[] {
  builtCli();
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-entries-'));
  try {
    const r = spawnSync(process.execPath, ['test/fixtures/entries/load.mjs', entry], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PIPEMETER_MODULE_LOG: join(dir, 'modules.log') },
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as string[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('entries', () => {
  it('pipemeter (import, createMeter, a counter, a scrape, a cluster primary) loads prom-client and its dependencies, nothing else', () => {
    const promClient = [...dependencyTree('prom-client')].sort();
    expect(promClient).toContain('prom-client');
    expect(loaded('pipemeter')).toEqual(promClient);
  });

  it('pipemeter/sidecar carries the server: express, ioredis, undici and yaml load with it', () => {
    const packages = loaded('pipemeter/sidecar');
    for (const p of ['express', 'ioredis', 'undici', 'yaml', 'prom-client']) expect(packages).toContain(p);
  });

  it('pipemeter/deploy loads no server package', () => {
    const packages = loaded('pipemeter/deploy');
    expect(packages).toContain('yaml');
    for (const p of ['express', 'ioredis', 'undici', 'prom-client']) expect(packages).not.toContain(p);
  });

  it('each entry exports its part of the API, and the library exports no sidecar or generator', async () => {
    builtCli();
    const lib = await import('pipemeter');
    const sidecar = await import('pipemeter/sidecar');
    const deploy = await import('pipemeter/deploy');
    expect(Object.keys(lib)).toEqual(expect.arrayContaining(['createMeter', 'Meter', 'PipemeterError', 'catalog', 'parseExposition', 'sourceLabel']));
    for (const name of ['createSidecar', 'startSidecar', 'loadConfig', 'generateAll']) expect(Object.keys(lib)).not.toContain(name);
    expect(Object.keys(sidecar)).toEqual(expect.arrayContaining(['createSidecar', 'startSidecar', 'loadConfig', 'readConfig', 'signBody', 'parseStatsdLine']));
    expect(Object.keys(deploy)).toEqual(expect.arrayContaining(['generateAll', 'deployDefaults', 'loadDeploySettings']));
  });
});
