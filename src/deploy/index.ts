/** `pipemeter/deploy`: the generators of the operations assets (Prometheus, Alertmanager, Grafana, Kubernetes, Compose) and the docs they link to. */
export { generateAll } from './generate.js';
export type { GeneratedFile } from './generate.js';
export { defaults as deployDefaults } from './settings.js';
export type { Settings as DeploySettings } from './settings.js';
export { loadSettings as loadDeploySettings, differsFromDefaults } from './settings-file.js';
export { kubernetesFiles, kubernetesDefaults } from './kubernetes.js';
export type { KubernetesSettings } from './kubernetes.js';
export { composeFiles, composeSettings } from './compose.js';
