/**
 * `pipemeter generate --settings FILE`: the example settings file reaches every generated file and the real tools accept
 * the result; bad settings are exit 2 with every problem; --check compares with what those settings generate.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { UsageError } from '../../src/cli/command.js';
import { generate } from '../../src/cli/commands/generate.js';
import { generateAll } from '../../src/deploy/index.js';
import { loadSettings } from '../../src/deploy/settings-file.js';
import { defaults } from '../../src/deploy/settings.js';
import { PipemeterError } from '../../src/shared/errors.js';
import { builtCli, describeWithTools } from '../helpers/tools.js';
import { cliIO, repoRoot, runAsync, tempDirs } from './helpers.js';

const example = join(repoRoot, 'config/deploy-settings.example.yaml');
const notice = (file: string) =>
  `pipemeter generate: notice: ${file} differs from the default settings, but the promtool cases in deploy/prometheus/tests/ ` +
  `are written for the defaults; "promtool test rules" will show which edges moved: update or drop those cases\n`;

const tempDir = tempDirs('pipemeter-settings-');
function settingsFile(yaml: string): string {
  const file = join(tempDir(), 'settings.yaml');
  writeFileSync(file, yaml);
  return file;
}

const read = (root: string, path: string) => readFileSync(join(root, path), 'utf8');

describe('generate --settings, the example file', () => {
  it('loads, and differs from the defaults exactly where it says', () => {
    const s = loadSettings(readFileSync(example, 'utf8'), example);
    expect(s).toEqual({
      ...defaults,
      targets: { ...defaults.targets, sidecar: ['scraper-1.internal:9464', 'scraper-2.internal:9464'] },
      alertmanager: { ...defaults.alertmanager, channels: { critical: '#ops-page', warning: '#pipemeter-warning' } },
      pipeline: { ...defaults.pipeline, stageLatency: { ...defaults.pipeline.stageLatency, maxSeconds: 900 } },
      runbookBaseUrl: 'https://wiki.example.com/pipemeter/runbooks',
    });
  });

  it('writes its overrides into the files: channel, targets, threshold, runbook links; and prints the notice once', async () => {
    const out = tempDir();
    const t = cliIO();
    expect(await generate.run(['--settings', example, '--out', out], t.cli)).toBe(0);
    expect(t.err()).toBe(notice(example));
    const files = generateAll(loadSettings(readFileSync(example, 'utf8'), example));
    expect(t.out()).toBe(`wrote ${files.length} files under ${out}\n`);
    for (const f of files) expect(read(out, f.path)).toBe(f.content);

    const am = parse(read(out, 'deploy/alertmanager/alertmanager.yml'));
    const channels = Object.fromEntries(am.receivers.map((r: any) => [r.name, r.slack_configs[0].channel]));
    expect(channels).toEqual({ 'slack-critical': '#ops-page', 'slack-warning': '#pipemeter-warning' });

    const prom = parse(read(out, 'deploy/prometheus/prometheus.yml'));
    const sidecarJob = prom.scrape_configs.find((j: any) => j.job_name === defaults.jobs.sidecar);
    expect(sidecarJob.static_configs).toEqual([{ targets: ['scraper-1.internal:9464', 'scraper-2.internal:9464'] }]);

    const alerts = parse(read(out, 'deploy/prometheus/rules/alerts.yml')).groups.flatMap((g: any) => g.rules);
    const latency = alerts.find((r: any) => r.alert === 'PipelineStageLatencyHigh');
    expect(latency.expr).toMatch(/\) > 900$/);
    expect(latency.annotations.runbook_url).toBe('https://wiki.example.com/pipemeter/runbooks#pipelinestagelatencyhigh');
    // Only that alert's expression moved.
    const shipped = parse(generateAll(defaults).find((f) => f.path === 'deploy/prometheus/rules/alerts.yml')!.content).groups.flatMap((g: any) => g.rules);
    const moved = alerts.filter((r: any) => r.expr !== shipped.find((d: any) => d.alert === r.alert)?.expr).map((r: any) => r.alert);
    expect(moved).toEqual(['PipelineStageLatencyHigh']);
  });
});

describe('generate --settings, the notice about the promtool cases', () => {
  it('is not printed without --settings', async () => {
    const t = cliIO();
    expect(await generate.run(['--out', tempDir()], t.cli)).toBe(0);
    expect(t.err()).toBe('');
  });

  it('is not printed for a file that only repeats defaults', async () => {
    const t = cliIO();
    expect(await generate.run(['--settings', settingsFile('scrapeInterval: 30s\nalertmanager:\n  channels: { warning: "#pipemeter-warning" }\n'), '--out', tempDir()], t.cli)).toBe(0);
    expect(t.err()).toBe('');
  });

  it('is printed for any change, even one far from the rules', async () => {
    const file = settingsFile('grafana:\n  folder: ops\n');
    const t = cliIO();
    expect(await generate.run(['--settings', file, '--out', tempDir()], t.cli)).toBe(0);
    expect(t.err()).toBe(notice(file));
  });
});

describe('generate --settings --check', () => {
  it('passes on what the same settings wrote, and lists drift from the defaults\' output with exit 1', async () => {
    const withSettings = tempDir();
    await generate.run(['--settings', example, '--out', withSettings], cliIO().cli);
    const same = cliIO();
    expect(await generate.run(['--settings', example, '--out', withSettings, '--check'], same.cli)).toBe(0);
    expect(same.out()).toMatch(/^\d+ generated files are up to date\n$/);

    const shipped = tempDir();
    await generate.run(['--out', shipped], cliIO().cli);
    const drift = cliIO();
    expect(await generate.run(['--settings', example, '--out', shipped, '--check'], drift.cli)).toBe(1);
    const err = drift.err();
    expect(err).toContain(`run "pipemeter generate --settings ${example}" and commit:\n`);
    for (const p of ['deploy/alertmanager/alertmanager.yml', 'deploy/prometheus/prometheus.yml', 'deploy/prometheus/rules/alerts.yml']) expect(err).toContain(`  ${p}\n`);
    // Not every file moves: the metrics reference depends on the catalog alone.
    expect(err).not.toContain('docs/metrics.md');
  });

  it('without --settings, fails on output written with settings', async () => {
    const out = tempDir();
    await generate.run(['--settings', example, '--out', out], cliIO().cli);
    const t = cliIO();
    expect(await generate.run(['--out', out, '--check'], t.cli)).toBe(1);
    expect(t.err()).toContain('run "pipemeter generate" and commit:\n  deploy/');
  });
});

describe('generate --settings, bad input', () => {
  it('refuses bad settings with every problem and writes nothing', async () => {
    const file = settingsFile('alertmanager:\n  chanels: {}\nquantiles: []\n');
    const out = tempDir();
    const err = await generate.run(['--settings', file, '--out', out], cliIO().cli).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipemeterError);
    expect((err as PipemeterError).code).toBe('E_SETTINGS');
    expect((err as Error).message.split('\n')).toEqual([
      `${file}: 2 problems in the deploy settings:`,
      `${file}:2:3: alertmanager.chanels: unknown key; did you mean "channels"?`,
      `${file}:3:12: quantiles: is an empty list; give at least one item, or remove the key to keep the default [0.5,0.95,0.99]`,
    ]);
    expect(readdirSync(out)).toEqual([]);
  });

  it('names a settings file it cannot read', async () => {
    const missing = join(tempDir(), 'nope.yaml');
    await expect(generate.run(['--settings', missing], cliIO().cli)).rejects.toThrow(`cannot read the settings file "${missing}" (ENOENT); check the path given to --settings`);
  });

  it('--settings without a file is a usage error', async () => {
    await expect(generate.run(['--settings'], cliIO().cli)).rejects.toBeInstanceOf(UsageError);
  });
});

describe('pipemeter generate --settings, the built binary', () => {
  let main = '';
  beforeAll(() => {
    main = builtCli();
    expect(existsSync(main)).toBe(true);
  }, 70_000);
  const cli = (...args: string[]) => spawnSync('node', [main, 'generate', ...args], { encoding: 'utf8', timeout: 30_000 });

  it('bad settings: exit 2, nothing on stdout, every problem on stderr', () => {
    const file = settingsFile('targetDown:\n  severity: page\n  for: soon\n');
    const r = cli('--settings', file, '--out', tempDir());
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      `pipemeter generate: ${file}: 2 problems in the deploy settings:`,
      `${file}:2:13: targetDown.severity: expected one of the severities critical, warning or info, got "page"`,
      `${file}:3:8: targetDown.for: expected a duration such as "5m" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"; "0s" fires at once), got "soon"`,
      '',
    ]);
  });

  it('the example: exit 0, the notice on stderr', () => {
    const out = tempDir();
    const r = cli('--settings', example, '--out', out);
    expect(r.stderr).toBe(notice(example));
    expect(r.status).toBe(0);
    expect(read(out, 'deploy/alertmanager/alertmanager.yml')).toContain('channel: "#ops-page"');
  });

  it('--help shows the option with an example', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: pipemeter generate [--settings FILE] [--out DIR] [--check]');
    expect(r.stdout).toContain('pipemeter generate --settings ops/deploy-settings.yaml --out ops');
  });
});

describeWithTools(['promtool', 'amtool'], 'generate --settings: the example\'s output through promtool and amtool', () => {
  let out: string;
  let prom: string;
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'pipemeter-settings-tools-'));
    prom = join(out, 'deploy/prometheus');
    expect(await generate.run(['--settings', example, '--out', out], cliIO().cli)).toBe(0);
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('promtool check config accepts prometheus.yml and finds both rule files', async () => {
    const r = await runAsync('promtool', ['check', 'config', 'prometheus.yml'], prom);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS: 2 rule files found');
  });

  it('promtool check rules accepts the rule files', async () => {
    const r = await runAsync('promtool', ['check', 'rules', 'rules/recording.yml', 'rules/alerts.yml'], prom);
    expect(r.code, r.out).toBe(0);
  });

  it('amtool check-config accepts alertmanager.yml with its template', async () => {
    const r = await runAsync('amtool', ['check-config', 'alertmanager.yml'], join(out, 'deploy/alertmanager'));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('2 receivers');
  });

  it('amtool routes critical alerts to the overridden channel\'s receiver', async () => {
    const r = await runAsync('amtool', ['config', 'routes', 'test', '--config.file=alertmanager.yml', '--verify.receivers=slack-critical', 'severity=critical'], join(out, 'deploy/alertmanager'));
    expect(r.code, r.out).toBe(0);
  });

  it('promtool test rules shows the moved edge, as the notice says: the latency case fails, the other files pass', async () => {
    const files = readdirSync(join(prom, 'tests'));
    const results = await Promise.all(files.map((f) => runAsync('promtool', ['test', 'rules', `tests/${f}`], prom)));
    const failed = files.filter((_, i) => results[i]!.code !== 0);
    expect(failed).toEqual(['pipeline-alerts.yaml']);
    const out = results[files.indexOf('pipeline-alerts.yaml')]!.out;
    expect(out).toContain('PipelineStageLatencyHigh');
    expect(out).toContain('(threshold 900s)');
  }, 180_000);
});
