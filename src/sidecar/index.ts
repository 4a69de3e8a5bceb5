/** `pipemeter/sidecar`: the sidecar as a library: build it from a config, or run it on its listeners in this process. */
export { createSidecar } from './sidecar.js';
export type { Sidecar, SidecarDeps, Clock } from './sidecar.js';
export { startSidecar, readConfig } from './host.js';
export type { RunningSidecar, StartSidecarOptions } from './host.js';
export { loadConfig, defaults as sidecarDefaults } from './config.js';
export type { SidecarConfig, BrokerConfig } from './config.js';
export { signBody } from './firecrawl.js';
export { parseStatsdLine, statsdRejectReasons } from './statsd.js';
export type { StatsdConfig, StatsdMappingConfig, StatsdSample } from './statsd.js';
