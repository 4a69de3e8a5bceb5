/** prometheus.yml, the rule files and their promtool unit tests, judged by promtool itself. */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTools } from '../helpers/tools.js';
import { repoRoot, runAsync, tempCopy } from './helpers.js';

const promDir = join(repoRoot, 'deploy/prometheus');
const ruleFiles = readdirSync(join(promDir, 'rules')).map((f) => `rules/${f}`);
const testFiles = readdirSync(join(promDir, 'tests')).filter((f) => f.endsWith('.yaml')).map((f) => `tests/${f}`);

describeWithTools(['promtool'], 'deploy/prometheus with promtool', () => {
  let copy: ReturnType<typeof tempCopy>;
  beforeAll(() => {
    // A temp copy: check config resolves rule_files and file_sd globs next to prometheus.yml.
    copy = tempCopy();
  });
  afterAll(() => copy.cleanup());

  it('promtool check config accepts prometheus.yml and finds the rule files', async () => {
    const r = await runAsync('promtool', ['check', 'config', 'prometheus.yml'], join(copy.dir, 'deploy/prometheus'));
    expect(r.out).toContain(`SUCCESS: ${ruleFiles.length} rule files found`);
    expect(r.code, r.out).toBe(0);
  });

  it('promtool check rules accepts every rule file', async () => {
    const r = await runAsync('promtool', ['check', 'rules', ...ruleFiles], promDir);
    expect(r.code, r.out).toBe(0);
  });

  it('promtool test rules passes every unit test file', async () => {
    expect(testFiles.length).toBeGreaterThan(0);
    // One process per file, in parallel: promtool evaluates every rule at every step, so files take seconds each.
    const results = await Promise.all(testFiles.map((f) => runAsync('promtool', ['test', 'rules', f], promDir)));
    const failed = results.map((r, i) => ({ file: testFiles[i], ...r })).filter((r) => r.code !== 0);
    expect(failed.map((f) => `${f.file}:\n${f.out}`).join('\n')).toBe('');
    // Seven days of one-minute steps in the baseline cases, with a job matcher on every selector: about 30 s of CPU in all,
    // which a two-core machine shared with other test files stretches.
  }, 180_000);

  it('promtool test rules fails when an expectation is wrong (the tests can fail)', async () => {
    const file = join(copy.dir, 'deploy/prometheus/tests/target-alerts.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('worker-1:9464 of job', 'worker-9:9464 of job'));
    const r = await runAsync('promtool', ['test', 'rules', 'tests/target-alerts.yaml'], join(copy.dir, 'deploy/prometheus'));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('FAILED');
  });
});

