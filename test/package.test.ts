/**
 * The package as a user installs it: `npm pack`, installed in an empty project with only typescript and @types/node
 * beside it; a consumer of all three entries type-checks with strict and skipLibCheck off, and runs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCli } from './helpers/tools.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = join(root, 'test/fixtures/consumer');
const dir = mkdtempSync(join(tmpdir(), 'pipemeter-consumer-'));

/** shAsync runs a command without blocking the event loop (vitest's worker must keep answering its runner meanwhile). */
function shAsync(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, timeout: 200_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: `${stdout}${stderr}` });
    });
  });
}

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

  it('ships the Apache-2.0 LICENSE package.json names, the standard text unchanged', () => {
    const pkg = join(dir, 'node_modules/pipemeter');
    expect((JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { license: string }).license).toBe('Apache-2.0');
    // sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (Debian's /usr/share/common-licenses/Apache-2.0).
    expect(createHash('sha256').update(readFileSync(join(pkg, 'LICENSE'))).digest('hex')).toBe('cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30');
  });

  it('ships source maps that are whole: every source is in the package or inlined in the map', () => {
    const pkg = join(dir, 'node_modules/pipemeter');
    const maps: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.map')) maps.push(join(d, e.name));
      }
    };
    walk(pkg);
    expect(maps.length).toBeGreaterThan(50);
    const broken: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(readFileSync(m, 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      map.sources.forEach((src, i) => {
        const inlined = typeof map.sourcesContent?.[i] === 'string' && map.sourcesContent[i] !== '';
        if (!inlined && !existsSync(join(dirname(m), src))) broken.push(`${relative(pkg, m)}: ${src}`);
      });
    }
    expect(broken).toEqual([]);
  });

  it('runs no script when a consumer installs it: no preinstall, install, postinstall or prepare in the manifest', () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules/pipemeter/package.json'), 'utf8')) as { scripts?: Record<string, string> };
    expect(Object.keys(pkg.scripts ?? {}).filter((k) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(k))).toEqual([]);
    // The build runs before packing instead.
    expect(pkg.scripts?.prepack).toBe('npm run build');
  });
});

describe('a fresh clone', () => {
  it('ignores the tarball npm pack writes', () => {
    const r = sh('git', ['check-ignore', '-q', 'pipemeter-0.1.0.tgz'], root);
    expect(r.code).toBe(0);
  });

  it('npm start builds dist/ first, then runs the demo', async () => {
    // The checkout as git sees it (tracked and new files, nothing ignored: no dist/), with this node_modules.
    const clone = mkdtempSync(join(tmpdir(), 'pipemeter-clone-'));
    try {
      const ls = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
      for (const f of ls.stdout.split('\0').filter((x) => x !== '' && existsSync(join(root, x)))) {
        mkdirSync(dirname(join(clone, f)), { recursive: true });
        copyFileSync(join(root, f), join(clone, f));
      }
      symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));
      expect(existsSync(join(clone, 'dist'))).toBe(false);
      const r = await shAsync('npm', ['start', '--', '--duration', '1s', '--metrics-port', '0', '--ingest-port', '0'], clone);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/pipemeter demo: stopped; sent \d+ events/);
      expect(existsSync(join(clone, 'dist/cli/main.js'))).toBe(true);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }, 240_000);
});

