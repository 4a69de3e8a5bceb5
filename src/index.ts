/** pipemeter's public entry: re-exports only. */
export { createMeter, Meter } from './exposition/meter.js';
export type { MetricsOptions, MetricsServer, ServeOptions } from './exposition/meter.js';
export type { MeterOptions, CustomFamilyOptions, HistogramOptions } from './meter/meter.js';
export { PipemeterError } from './meter/errors.js';
export type { InstrumentationErrorReason, Logger } from './meter/errors.js';
export { Counter, Gauge, Histogram, BoundCounter, BoundGauge, BoundHistogram } from './meter/instruments.js';
export type { ExemplarLabels } from './meter/instruments.js';
export { Scraper } from './meter/scraper.js';
export type { ScraperOptions, RunRecord } from './meter/scraper.js';
export { Pipeline, Job } from './meter/pipeline.js';
export type { JobOptions, FinishOptions, FinishedJob, Instant } from './meter/pipeline.js';
export { sourceLabel } from './meter/source.js';
export { negotiate } from './exposition/negotiate.js';
export { CONTENT_TYPE } from './exposition/render.js';
export type { Format } from './exposition/render.js';
export * as catalog from './catalog/index.js';
export { parseExposition, formatOf } from './exposition/parse.js';
export type {
  ParsedExposition,
  ParsedFamily,
  ParsedSample,
  ParsedExemplar,
  ParseProblem,
  ParseOptions,
  FamilyType,
} from './exposition/parse.js';
export { createSidecar } from './sidecar/sidecar.js';
export type { Sidecar, SidecarDeps, Clock } from './sidecar/sidecar.js';
export { loadConfig, defaults as sidecarDefaults } from './sidecar/config.js';
export type { SidecarConfig } from './sidecar/config.js';
export { signBody } from './sidecar/firecrawl.js';
export { startSidecar } from './cli/commands/serve.js';
export type { RunningSidecar, StartSidecarOptions } from './cli/commands/serve.js';
export { generateAll } from './deploy/index.js';
export type { GeneratedFile } from './deploy/index.js';
export { defaults as deployDefaults } from './deploy/settings.js';
export type { Settings as DeploySettings } from './deploy/settings.js';
export { loadSettings as loadDeploySettings } from './deploy/settings-file.js';
export { parseStatsdLine, statsdRejectReasons } from './sidecar/statsd.js';
export type { StatsdConfig, StatsdMappingConfig, StatsdSample } from './sidecar/statsd.js';
export type { BrokerConfig } from './sidecar/config.js';
export { kubernetesFiles, kubernetesDefaults } from './deploy/kubernetes.js';
export type { KubernetesSettings } from './deploy/kubernetes.js';
export { composeFiles, composeSettings } from './deploy/compose.js';
