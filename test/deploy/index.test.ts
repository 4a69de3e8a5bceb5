/** generateAll: stable output, and the committed deploy/ and docs/ files are exactly what it generates (the drift test). */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAll } from '../../src/deploy/index.js';
import { RULE_CASES_DIR } from '../../src/deploy/rule-tests.js';
import { defaults } from '../../src/deploy/settings.js';
import { readCommitted, repoRoot } from './helpers.js';

const files = generateAll(defaults);

function listFiles(dir: string): string[] {
  return readdirSync(join(repoRoot, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    return statSync(join(repoRoot, rel)).isDirectory() ? listFiles(rel) : [rel];
  });
}

describe('generateAll', () => {
  it('is byte-identical across calls', () => {
    expect(generateAll(defaults)).toEqual(files);
  });

  it('writes each path once, under deploy/ or docs/, and the Python catalog', () => {
    const paths = files.map((f) => f.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths.filter((p) => !/^(deploy|docs)\//.test(p))).toEqual(['python/pipemeter/_catalog.py']);
  });

  it('renders one promtool test file per rule case file', () => {
    const cases = listFiles(RULE_CASES_DIR).map((p) => p.slice(RULE_CASES_DIR.length + 1));
    expect(cases.length).toBeGreaterThan(0);
    expect(files.map((f) => f.path).filter((p) => p.startsWith('deploy/prometheus/tests/')).sort()).toEqual(cases.map((c) => `deploy/prometheus/tests/${c}`).sort());
  });

  it('follows the settings it is given', () => {
    const other = generateAll({ ...defaults, scrapeInterval: '15s' });
    const config = other.find((f) => f.path === 'deploy/prometheus/prometheus.yml')?.content ?? '';
    expect(config).toContain('scrape_interval: 15s');
  });
});

describe('drift: committed files match the generators', () => {
  it.each(files.map((f) => [f.path, f.content]))('%s is up to date (run npm run build && npm run generate)', (path, content) => {
    expect(readCommitted(path)).toBe(content);
  });

  it('deploy/ holds no file the generators no longer write (the rule cases they read, and git-ignored files such as local secrets, aside)', () => {
    const generated = new Set(files.map((f) => f.path));
    const extra = listFiles('deploy').filter((p) => !generated.has(p) && !p.startsWith(`${RULE_CASES_DIR}/`));
    // git check-ignore prints the paths it ignores: a user's deploy/compose/secrets/* is theirs, not drift.
    const ignored = extra.length === 0 ? [] : spawnSync('git', ['check-ignore', '--', ...extra], { cwd: repoRoot, encoding: 'utf8' }).stdout.split('\n');
    expect(extra.filter((p) => !ignored.includes(p))).toEqual([]);
  });
});
