/**
 * The compile-time guarantee the dashboards rest on: with the installed Grafana SDK, TypeScript rejects a panel option
 * Grafana does not have, a value outside an option's set and an unknown dashboard field; and the generators never step
 * around the types (no `any`, no `as` casts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const header = `import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
export {};
`;

/** Each case is a module; `ok` compiles clean, every other one must fail with the TypeScript error code given. */
const cases: Record<string, { code?: string; body: string }> = {
  ok: {
    body: `new stat.PanelBuilder().colorMode(common.BigValueColorMode.Background).build();
const d: dashboard.Dashboard = { schemaVersion: 41, templating: {}, annotations: {}, refresh: '1m' };`,
  },
  'unknown-option': { code: 'TS2339', body: `new stat.PanelBuilder().sparkline(true);` },
  'value-outside-the-set': { code: 'TS2345', body: `new stat.PanelBuilder().colorMode('rainbow');` },
  'unknown-dashboard-field': {
    code: 'TS2353',
    body: `const d: dashboard.Dashboard = { schemaVersion: 41, templating: {}, annotations: {}, refreshEvery: '1m' };`,
  },
};

describe('Grafana SDK types', () => {
  // Under node_modules, so the SDK resolves as it does for src/; git ignores it.
  const cache = join(repoRoot, 'node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'pipemeter-grafana-types-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reject an unknown option, a value outside the set and an unknown dashboard field; accept the right ones', () => {
    for (const [name, c] of Object.entries(cases)) writeFileSync(join(dir, `${name}.ts`), header + c.body + '\n');
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const flags = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--pretty', 'false'];
    const r = spawnSync(process.execPath, [tsc, ...flags, ...Object.keys(cases).map((n) => join(dir, `${n}.ts`))], { encoding: 'utf8', timeout: 60_000 });
    const errors = (name: string) => r.stdout.split('\n').filter((l) => l.includes(`${name}.ts(`));
    // Unused locals are not errors under these flags; anything reported in `ok` is a real type error.
    expect(errors('ok'), r.stdout).toEqual([]);
    for (const [name, c] of Object.entries(cases).filter(([n]) => n !== 'ok')) {
      expect(errors(name).some((l) => l.includes(`error ${c.code}:`)), `${name}: ${r.stdout}`).toBe(true);
    }
  }, 60_000);

  it.each(['src/deploy/grafana.ts', 'src/deploy/grafana-panels.ts'])('%s uses no any and no type assertion', (file) => {
    const source = ts.createSourceFile(file, readFileSync(join(repoRoot, file), 'utf8'), ts.ScriptTarget.ES2022, true);
    const found: string[] = [];
    const walk = (n: ts.Node): void => {
      if (n.kind === ts.SyntaxKind.AnyKeyword || ts.isAsExpression(n) || ts.isTypeAssertionExpression(n) || ts.isNonNullExpression(n)) {
        // `as const` only narrows; it asserts nothing.
        if (!(ts.isAsExpression(n) && n.type.getText(source) === 'const')) found.push(`${file}:${source.getLineAndCharacterOfPosition(n.getStart(source)).line + 1}: ${n.getText(source)}`);
      }
      ts.forEachChild(n, walk);
    };
    walk(source);
    expect(found).toEqual([]);
  });
});
