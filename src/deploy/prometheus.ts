/** prometheus.yml and the worker file_sd targets: scrape jobs, intervals, rule files and the Alertmanager to alert. */
import type { Settings } from './settings.js';
import { toYaml } from './yaml.js';

/** Where the rule and target files live, relative to prometheus.yml (Prometheus resolves them against its directory). */
export const RULES_GLOB = 'rules/*.yml';
export const TARGETS_GLOB = 'targets/*.yml';

/** prometheusConfig renders deploy/prometheus/prometheus.yml. */
export function prometheusConfig(s: Settings): string {
  return toYaml({
    global: { scrape_interval: s.scrapeInterval, evaluation_interval: s.evaluationInterval },
    rule_files: [RULES_GLOB],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [...s.targets.alertmanager] }] }] },
    scrape_configs: [
      { job_name: s.jobs.sidecar, static_configs: [{ targets: [...s.targets.sidecar] }] },
      { job_name: s.jobs.workers, file_sd_configs: [{ files: [TARGETS_GLOB], refresh_interval: '1m' }] },
      { job_name: s.jobs.nodeExporter, static_configs: [{ targets: [...s.targets.nodeExporter] }] },
    ],
  });
}

/** workerTargets renders the example file_sd file; replace its targets with your workers' host:port. */
export function workerTargets(s: Settings): string {
  return toYaml([{ targets: [...s.workerTargets] }]);
}
