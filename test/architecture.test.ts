/** The layering rules in .dependency-cruiser.cjs (which `npm test` runs on src/ as lint:deps) catch what they name when it is broken. */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const depcruise = join(root, 'node_modules/.bin/depcruise');

function cruise(cwd: string) {
  const r = spawnSync(depcruise, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('dependency rules', () => {
  const copy = mkdtempSync(join(tmpdir(), 'pipemeter-layers-'));
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it('catch a layer importing upwards, a cycle, a root entry reaching the sidecar or a server package, and dead code', () => {
    for (const f of ['src', '.dependency-cruiser.cjs', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) cpSync(join(root, f), join(copy, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    // meter reaches up into the sidecar (which imports meter back: a cycle), and the library's exposition loads yaml.
    appendFileSync(join(copy, 'src/meter/source.ts'), "\nexport { loadConfig } from '../sidecar/config.js';\n");
    appendFileSync(join(copy, 'src/exposition/negotiate.ts'), "\nexport { parse as parseYamlText } from 'yaml';\n");
    writeFileSync(join(copy, 'src/shared/unused.ts'), 'export const unused = 1;\n');
    const r = cruise(copy);
    expect(r.code).not.toBe(0);
    for (const rule of ['meter-imports-only-catalog-shared', 'root-entry-is-the-library', 'root-entry-loads-only-prom-client', 'no-circular', 'no-orphans']) {
      expect(r.out, rule).toContain(rule);
    }
  }, 120_000);
});
