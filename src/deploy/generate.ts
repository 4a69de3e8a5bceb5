/** generateAll: every shipped operations file, rendered from the catalog, the rule cases and one Settings value. */
import { TEMPLATE_FILE, alertmanagerConfig, slackTemplate } from './alertmanager.js';
import { alertRuleGroups } from './alerts.js';
import { composeFiles } from './compose.js';
import { metricsMarkdown, runbooksMarkdown } from './docs.js';
import { grafanaFiles } from './grafana.js';
import { kubernetesFiles } from './kubernetes.js';
import { prometheusConfig, workerTargets } from './prometheus.js';
import { pythonCatalog } from './python-catalog.js';
import { deployReadme } from './readme.js';
import { ruleTestFiles } from './rule-tests.js';
import { recordingRuleGroups } from './rules.js';
import type { Settings } from './settings.js';
import { toYaml } from './yaml.js';
import { packageVersion } from '../shared/package-root.js';

export interface GeneratedFile {
  /** Relative to the output root, forward slashes: `deploy/...`, `docs/...` or `python/...`. */
  path: string;
  content: string;
}

/**
 * generateAll renders every generated file; byte-identical for the same settings, catalog and rule cases.
 * The promtool cases (deploy/prometheus/tests/cases/) are written by hand for `defaults`: with other thresholds
 * they fail and show which edges moved.
 */
export function generateAll(s: Settings): GeneratedFile[] {
  return [
    { path: 'deploy/README.md', content: deployReadme(s) },
    { path: 'deploy/prometheus/prometheus.yml', content: prometheusConfig(s) },
    { path: 'deploy/prometheus/targets/workers.yml', content: workerTargets(s) },
    { path: 'deploy/prometheus/rules/recording.yml', content: toYaml({ groups: recordingRuleGroups(s) }) },
    { path: 'deploy/prometheus/rules/alerts.yml', content: toYaml({ groups: alertRuleGroups(s) }) },
    ...ruleTestFiles(s).map((f) => ({ path: `deploy/prometheus/tests/${f.name}`, content: f.content })),
    { path: 'deploy/alertmanager/alertmanager.yml', content: alertmanagerConfig(s) },
    { path: `deploy/alertmanager/templates/${TEMPLATE_FILE}`, content: slackTemplate(s) },
    ...grafanaFiles(s).map((f) => ({ path: `deploy/grafana/${f.path}`, content: f.content })),
    ...kubernetesFiles(s).map((f) => ({ path: `deploy/kubernetes/${f.path}`, content: f.content })),
    ...composeFiles(s).map((f) => ({ path: `deploy/compose/${f.path}`, content: f.content })),
    { path: 'docs/runbooks.md', content: runbooksMarkdown(s) },
    { path: 'docs/metrics.md', content: metricsMarkdown() },
    { path: 'python/pipemeter/_catalog.py', content: pythonCatalog(packageVersion()) },
  ];
}
