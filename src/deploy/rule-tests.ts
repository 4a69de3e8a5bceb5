/**
 * promtool unit tests for the rules, from the hand-written cases in `deploy/prometheus/tests/cases/` (data, not code):
 * each case file is a promtool test file without what the rules and settings own. Rendering adds the rule files, the
 * evaluation interval of the settings (unless the case file sets one) and each expected alert's static annotations
 * (summary, runbook_url) copied from its rule, since promtool compares every annotation.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PipemeterError } from '../shared/errors.js';
import { packageRoot } from '../shared/package-root.js';
import { alertDefs } from './alerts.js';
import type { AlertingRule } from './rules.js';
import type { Settings } from './settings.js';
import { toYaml } from './yaml.js';

/** Where the case files live, relative to the package root; the rendered tests go one level up. */
export const RULE_CASES_DIR = 'deploy/prometheus/tests/cases';

/** Rule files as a test file under tests/ sees them. */
const RULE_FILES = ['../rules/recording.yml', '../rules/alerts.yml'];

interface ExpectedAlert {
  exp_labels: Record<string, string>;
  exp_annotations: { description: string };
}

interface CaseFile {
  evaluation_interval?: string;
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: ExpectedAlert[] }[] }[];
}

/** readRuleCases reads every case file, by file name. */
export function readRuleCases(dir: string = join(packageRoot(), RULE_CASES_DIR)): { name: string; cases: CaseFile }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((name) => ({ name, cases: parse(readFileSync(join(dir, name), 'utf8')) as CaseFile }));
}

function withAnnotations(file: string, cases: CaseFile, rules: ReadonlyMap<string, AlertingRule>) {
  return cases.tests.map((t) => ({
    ...t,
    ...(t.alert_rule_test === undefined
      ? {}
      : {
          alert_rule_test: t.alert_rule_test.map((a) => {
            const rule = rules.get(a.alertname);
            if (rule === undefined) {
              throw new PipemeterError('E_RULE_TEST_ALERT', `${RULE_CASES_DIR}/${file}: case "${t.name}" names alert ${a.alertname}, which no rule defines; fix the case or add the alert in src/deploy/alerts.ts`);
            }
            return {
              ...a,
              exp_alerts: a.exp_alerts.map((e) => ({
                exp_labels: e.exp_labels,
                exp_annotations: { summary: rule.annotations.summary, description: e.exp_annotations.description, runbook_url: rule.annotations.runbook_url },
              })),
            };
          }),
        }),
  }));
}

/** ruleTestFiles renders the promtool test files, keyed by file name under deploy/prometheus/tests/. */
export function ruleTestFiles(s: Settings, files = readRuleCases()): { name: string; content: string }[] {
  const rules = new Map(alertDefs(s).map((d) => [d.rule.alert, d.rule]));
  return files.map(({ name, cases }) => ({
    name,
    content: toYaml({ rule_files: RULE_FILES, evaluation_interval: cases.evaluation_interval ?? s.evaluationInterval, tests: withAnnotations(name, cases, rules) }),
  }));
}
