/** loadSettings: a partial settings file merged over the defaults, and every bad input refused with file:line:col: path. */
import { describe, expect, it } from 'vitest';
import { PipemeterError } from '../../src/shared/errors.js';
import { differsFromDefaults, loadSettings, matchesPath, ruleAt, rulePatterns } from '../../src/deploy/settings-file.js';
import { defaults } from '../../src/deploy/settings.js';
import { deployDefaults, generateAll, loadDeploySettings } from '../../src/deploy/index.js';
import { readCommitted } from './helpers.js';

/** problemsOf returns the problem lines of a settings file that must be refused (one E_SETTINGS error listing them). */
function problemsOf(yaml: string): string[] {
  try {
    loadSettings(yaml, 'f.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(PipemeterError);
    expect((err as PipemeterError).code).toBe('E_SETTINGS');
    const [head, ...lines] = (err as Error).message.split('\n');
    expect(head).toBe(`f.yaml: ${lines.length} problem${lines.length === 1 ? '' : 's'} in the deploy settings:`);
    return lines;
  }
  throw new Error('expected the settings to be refused');
}

/** leaves lists every scalar of a settings tree with its path, list indices as [i]. */
function leaves(v: unknown, path = ''): [string, unknown][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, `${path}[${i}]`));
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => leaves(x, path === '' ? k : `${path}.${k}`));
  return [[path, v]];
}

describe('loadSettings: merging over the defaults', () => {
  it('merges mappings key by key: one channel changes, its sibling and the rest of the section keep their defaults', () => {
    const s = loadSettings('alertmanager:\n  channels:\n    critical: "#ops-page"\n', 'f.yaml');
    expect(s.alertmanager).toEqual({ ...defaults.alertmanager, channels: { critical: '#ops-page', warning: '#pipemeter-warning' } });
    expect({ ...s, alertmanager: defaults.alertmanager }).toEqual(defaults);
  });

  it('replaces lists whole: the given targets and quantiles, no default item kept', () => {
    const s = loadSettings('targets:\n  sidecar: [a:9464, b:9464]\nquantiles: [0.9]\n', 'f.yaml');
    expect(s.targets).toEqual({ ...defaults.targets, sidecar: ['a:9464', 'b:9464'] });
    expect(s.quantiles).toEqual([0.9]);
  });

  it('replaces a list of mappings whole, each item complete', () => {
    const s = loadSettings('slo:\n  page:\n    windows:\n      - { long: 2h, short: 10m, factor: 10 }\n', 'f.yaml');
    expect(s.slo.page).toEqual({ ...defaults.slo.page, windows: [{ long: '2h', short: '10m', factor: 10 }] });
    expect(s.slo.ticket).toEqual(defaults.slo.ticket);
  });

  it('replaces scalars, and accepts for: 0s', () => {
    const s = loadSettings('scrapeInterval: 15s\npipeline:\n  stageLatency:\n    maxSeconds: 300\n    for: 0s\n', 'f.yaml');
    expect(s.scrapeInterval).toBe('15s');
    expect(s.pipeline.stageLatency).toEqual({ ...defaults.pipeline.stageLatency, maxSeconds: 300, for: '0s' });
  });

  it('reads JSON, which is YAML too', () => {
    const s = loadSettings('{"runbookBaseUrl": "https://wiki.example.com/runbooks", "workerTargets": ["w1:9100"]}', 'f.json');
    expect(s.runbookBaseUrl).toBe('https://wiki.example.com/runbooks');
    expect(s.workerTargets).toEqual(['w1:9100']);
  });

  it('follows YAML aliases', () => {
    const s = loadSettings('targets:\n  sidecar: &hosts [h:9464]\n  nodeExporter: *hosts\n', 'f.yaml');
    expect(s.targets.nodeExporter).toEqual(['h:9464']);
  });

  it.each([
    ['an empty file', ''],
    ['a file of comments', '# nothing set yet\n'],
    ['a value equal to its default', 'scrapeInterval: 30s\n'],
  ])('%s gives the defaults, and does not count as different', (_what, yaml) => {
    const s = loadSettings(yaml, 'f.yaml');
    expect(s).toEqual(defaults);
    expect(differsFromDefaults(s)).toBe(false);
  });

  it('is public as loadDeploySettings, and its result feeds generateAll', () => {
    const s = loadDeploySettings('alertmanager:\n  channels: { warning: "#ops-tickets" }\n', 'f.yaml');
    expect({ ...s, alertmanager: deployDefaults.alertmanager }).toEqual(deployDefaults);
    const am = generateAll(s).find((f) => f.path === 'deploy/alertmanager/alertmanager.yml')?.content;
    expect(am).toContain('channel: "#ops-tickets"');
  });

  it('differsFromDefaults sees a change deep in a list', () => {
    expect(differsFromDefaults(loadSettings('slo:\n  ticket:\n    windows: [{ long: 1d, short: 2h, factor: 4 }]\n', 'f.yaml'))).toBe(true);
  });
});

describe('loadSettings: bad input', () => {
  it.each([
    ['an unknown key near a known one', 'alertmanger: {}\n', 'f.yaml:1:1: alertmanger: unknown key; did you mean "alertmanager"?'],
    [
      'an unknown key near none',
      'grafana:\n  theme: dark\n',
      'f.yaml:2:3: grafana.theme: unknown key; known keys here: url, datasourceUrl, folder, dashboardsPath, timeFrom, refresh',
    ],
    ['a string where a number goes', 'pipeline:\n  queueBacklog:\n    maxDepth: lots\n', 'f.yaml:3:15: pipeline.queueBacklog.maxDepth: expected a number greater than 0, such as 1000, got "lots"'],
    ['a number where a string goes', 'grafana:\n  folder: 7\n', 'f.yaml:2:11: grafana.folder: expected a non-empty string such as "pipemeter", got 7'],
    ['an empty string', 'grafana:\n  folder: ""\n', 'f.yaml:2:11: grafana.folder: expected a non-empty string such as "pipemeter", got ""'],
    ['a scalar where a list goes', 'targets:\n  sidecar: localhost:9464\n', 'f.yaml:2:12: targets.sidecar: expected a list (one "- item" per line, or [a, b]), got "localhost:9464"'],
    ['a list where a mapping goes', 'alertmanager:\n  channels: ["#a", "#b"]\n', 'f.yaml:2:13: alertmanager.channels: expected a mapping of critical, warning, got a list'],
    ['a mapping where a string goes', 'runbookBaseUrl: { url: x }\n', 'f.yaml:1:17: runbookBaseUrl: expected an http(s) URL such as "https://github.com/pipemeter/pipemeter/blob/main/docs/runbooks.md", got a mapping'],
    ['a number in a list of strings', 'targets:\n  alertmanager: [9093]\n', 'f.yaml:2:18: targets.alertmanager[0]: expected a non-empty string such as "localhost:9093", got 9093'],
    ['an item type in a list whose default is empty', 'workerTargets: [[a]]\n', 'f.yaml:1:17: workerTargets[0]: expected a non-empty string such as "localhost:9101", got a list'],
    ['a duration in words', 'scraper:\n  noItems:\n    window: 6 hours\n', 'f.yaml:3:13: scraper.noItems.window: expected a duration such as "6h" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"), got "6 hours"'],
    ['a compound window that names recording rules', 'rateWindow: 1h30m\n', 'f.yaml:1:13: rateWindow: expected a duration such as "5m" in one whole number and one unit, as recording-rule names carry it (`_rate5m`): "90m", not "1h30m", got "1h30m"'],
    ['a decimal duration, which Prometheus does not read', 'scraper:\n  noItems: { window: 1.5h }\n', 'f.yaml:2:22: scraper.noItems.window: expected a duration such as "6h" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"), got "1.5h"'],
    ['a zero window', 'pipeline:\n  jobsStuck: { window: 0h }\n', 'f.yaml:2:24: pipeline.jobsStuck.window: expected a duration such as "1h" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"), got "0h"'],
    ['a duration as a bare number', 'targetDown:\n  for: 300\n', 'f.yaml:2:8: targetDown.for: expected a duration such as "5m" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"; "0s" fires at once), got 300'],
    ['a repeat interval with its units out of order', 'alertmanager:\n  repeat: { warning: 30m4h }\n', 'f.yaml:2:22: alertmanager.repeat.warning: expected a duration such as "4h" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"), got "30m4h"'],
    ['a severity Alertmanager does not route', 'probeFailing:\n  severity: page\n', 'f.yaml:2:13: probeFailing.severity: expected one of the severities critical, warning or info, got "page"'],
    ['a quantile of 1', 'quantiles: [0.5, 1]\n', 'f.yaml:1:18: quantiles[1]: expected a number between 0 and 1, both excluded, such as 0.5 (50 % is 0.5), got 1'],
    ['a ratio written as a percentage', 'scraper:\n  schemaErrors: { maxRatio: 5 }\n', 'f.yaml:2:29: scraper.schemaErrors.maxRatio: expected a number between 0 and 1, both excluded, such as 0.05 (5 % is 0.05), got 5'],
    ['an SLO target of 0', 'slo: { target: 0 }\n', 'f.yaml:1:16: slo.target: expected a number between 0 and 1, both excluded, such as 0.99 (99 % is 0.99), got 0'],
    ['a threshold of 0', 'pipeline:\n  stageLatency: { maxSeconds: 0 }\n', 'f.yaml:2:31: pipeline.stageLatency.maxSeconds: expected a number greater than 0, such as 600, got 0'],
    ['a negative threshold', 'pipeline:\n  realtimeFactor: { max: -2 }\n', 'f.yaml:2:26: pipeline.realtimeFactor.max: expected a number greater than 0, such as 2, got -2'],
    ['a burn factor of 0', 'slo:\n  page:\n    windows: [{ long: 1h, short: 5m, factor: 0 }]\n', 'f.yaml:3:46: slo.page.windows[0].factor: expected a number greater than 0, such as 14.4, got 0'],
    ['no quantiles', 'quantiles: []\n', 'f.yaml:1:12: quantiles: is an empty list; give at least one item, or remove the key to keep the default [0.5,0.95,0.99]'],
    [
      'no SLO windows',
      'slo:\n  ticket:\n    windows: []\n',
      'f.yaml:3:14: slo.ticket.windows: is an empty list; give at least one item, or remove the key to keep the default [{"long":"1d","short":"2h","factor":3},{"long":"3d","short":"6h","factor":1}]',
    ],
    ['no absent jobs', 'absentJobs: []\n', 'f.yaml:1:13: absentJobs: is an empty list; give at least one item, or remove the key to keep the default ["pipemeter"]'],
    ['a burn window without its factor', 'slo:\n  page:\n    windows:\n      - { long: 1h, short: 5m }\n', 'f.yaml:4:9: slo.page.windows[0].factor: is required; a list item gives all of long, short, factor'],
    ['a short window not shorter than the long one', 'slo:\n  page:\n    windows: [{ long: 1h, short: 1h, factor: 14.4 }]\n', 'f.yaml:3:34: slo.page.windows[0].short: 1h is not shorter than long (1h); the short window only makes the alert reset quickly, e.g. long/12'],
    ['a bad outcome that is not counted', 'slo:\n  badOutcomes: [failed, cancelled]\n', 'f.yaml:2:16: slo.badOutcomes: "cancelled" is a bad outcome but not counted, so the error ratio could exceed 1; add it to slo.countedOutcomes or drop it from slo.badOutcomes'],
    ['an outcome the catalog does not have', 'slo:\n  countedOutcomes: [done]\n', 'f.yaml:2:21: slo.countedOutcomes[0]: expected a job outcome: completed, failed, cancelled, abandoned, got "done"'],
    ['a sidecar job that cannot name Kubernetes objects', 'jobs:\n  sidecar: Pipemeter_Main\n', 'f.yaml:2:12: jobs.sidecar: expected a name such as "pipemeter": lower-case letters, digits and "-", at most 63, as it also names the Kubernetes objects, got "Pipemeter_Main"'],
    ['a job name with a quote', 'absentJobs: [\'my"job\']\n', 'f.yaml:1:14: absentJobs[0]: expected a job name such as "pipemeter", without quotes, backslashes or line breaks, got "my\\"job"'],
    ['a group_by that is no label name', 'alertmanager:\n  groupBy: [alertname, 2nd]\n', 'f.yaml:2:24: alertmanager.groupBy[1]: expected a label name such as "alertname": letters, digits and "_", not starting with a digit, got "2nd"'],
    ['a Grafana URL without scheme', 'grafana:\n  url: grafana:3000\n', 'f.yaml:2:8: grafana.url: expected an http(s) URL such as "http://localhost:3000", got "grafana:3000"'],
    [
      'an unquoted Slack channel, which YAML reads as a comment',
      'alertmanager:\n  channels:\n    warning: #ops\n',
      'f.yaml:3:5: alertmanager.channels.warning: has no value; give one or remove the key to keep the default (quote a value that starts with "#", such as "#pipemeter-warning": unquoted, # starts a comment)',
    ],
    ['a list at the top', '- scrapeInterval: 15s\n', `f.yaml:1:1: (top level): expected a mapping of settings (${Object.keys(defaults).join(', ')}), got a list; see config/deploy-settings.example.yaml`],
    ['a scalar at the top', 'just words\n', `f.yaml:1:1: (top level): expected a mapping of settings (${Object.keys(defaults).join(', ')}), got "just words"; see config/deploy-settings.example.yaml`],
    ['YAML syntax', 'targets:\n  sidecar: [a:1\n', 'f.yaml:3:1: YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ]; fix the syntax at this position'],
    ['a key given twice', 'rateWindow: 5m\nrateWindow: 10m\n', 'f.yaml:2:1: YAML syntax: Map keys must be unique; fix the syntax at this position'],
  ])('%s', (_what, yaml, want) => {
    expect(problemsOf(yaml)).toEqual([want]);
  });

  it('reports every problem at once, in file order', () => {
    const lines = problemsOf(
      [
        'scrapeIntervall: 15s',
        'quantiles: []',
        'scraper:',
        '  noItems: { window: soon, severity: loud }',
        'pipeline:',
        '  failureRate: { maxRatio: 10 }',
        'alertmanager:',
        '  channels: { critical: 5 }',
        '',
      ].join('\n'),
    );
    expect(lines).toEqual([
      'f.yaml:1:1: scrapeIntervall: unknown key; did you mean "scrapeInterval"?',
      'f.yaml:2:12: quantiles: is an empty list; give at least one item, or remove the key to keep the default [0.5,0.95,0.99]',
      'f.yaml:4:22: scraper.noItems.window: expected a duration such as "6h" (units y, w, d, h, m, s, ms, largest first, whole numbers: "90m" or "1h30m"), got "soon"',
      'f.yaml:4:38: scraper.noItems.severity: expected one of the severities critical, warning or info, got "loud"',
      'f.yaml:6:28: pipeline.failureRate.maxRatio: expected a number between 0 and 1, both excluded, such as 0.1 (10 % is 0.1), got 10',
      'f.yaml:8:25: alertmanager.channels.critical: expected a non-empty string such as "#pipemeter-critical", got 5',
    ]);
  });
});

describe('the rule table', () => {
  it('every pattern names at least one setting (a typo would silently check nothing)', () => {
    // Each leaf's path and its parents' paths, so list-level patterns such as `slo.*.windows` have something to match.
    const paths = leaves(defaults).flatMap(([p]) => p.split('.').map((_, i, parts) => parts.slice(0, i + 1).join('.')));
    const all = [...new Set(paths.flatMap((p) => [p, p.replace(/\[\d+\]$/, '')]))];
    for (const pattern of rulePatterns) expect(all.some((p) => matchesPath(pattern, p)), pattern).toBe(true);
  });

  it('a pattern matches by key: * is one key, ** any number, [] any list item', () => {
    expect(matchesPath('**.for', 'slo.page.for')).toBe(true);
    expect(matchesPath('**.for', 'targetDown.for')).toBe(true);
    expect(matchesPath('**.for', 'slo.page.windows[0].long')).toBe(false);
    expect(matchesPath('slo.*.windows[].long', 'slo.ticket.windows[1].long')).toBe(true);
    expect(matchesPath('jobs.*', 'jobs')).toBe(false);
  });

  it.each(leaves(defaults))('the default %s passes its own rule', (path, value) => {
    expect(ruleAt(path, value).ok(value)).toBe(true);
  });

  it('every default that looks like a duration is checked as one', () => {
    const durations = leaves(defaults).filter(([, v]) => typeof v === 'string' && /^\d+[smhdw]$/.test(v));
    expect(durations.length).toBeGreaterThan(20);
    for (const [path, value] of durations) expect(ruleAt(path, value).ok('5 minutes'), path).toBe(false);
  });
});

describe('docs/operations.md, as written', () => {
  const doc = readCommitted('docs/operations.md');
  const blocks = (lang: string) => [...doc.matchAll(new RegExp(`\`\`\`${lang}\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
  const [fast, production] = blocks('yaml');

  it('the fast settings load: seconds instead of minutes', () => {
    const s = loadSettings(fast!, 'fast.yaml');
    expect([s.scrapeInterval, s.evaluationInterval, s.probeFailing.for, s.alertmanager.groupWait]).toEqual(['5s', '5s', '30s', '5s']);
  });

  it('the production settings are config/deploy-settings.example.yaml without the comments', () => {
    const example = readCommitted('config/deploy-settings.example.yaml');
    expect(loadSettings(production!, 'ops/deploy-settings.yaml')).toEqual(loadSettings(example, 'example.yaml'));
  });

  it('the error output shown is what the two mistakes it names give', () => {
    const bad = production!.replace('alertmanager:', 'alertmanger:').replace('maxSeconds: 900', 'maxSeconds: -1');
    const err = (() => {
      try {
        loadSettings(bad, 'ops/deploy-settings.yaml');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PipemeterError);
    expect(blocks('text')).toContain(`pipemeter generate: ${(err as Error).message}\n`);
  });
});
