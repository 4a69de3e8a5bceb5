/** `pipemeter`: the library a worker imports (catalog, meter, instruments, exposition, errors); it loads prom-client and nothing else. */
export { createMeter } from './exposition/create-meter.js';
export { Meter } from './meter/meter.js';
export type { MeterOptions, CustomFamilyOptions, GaugeOptions, HistogramOptions, MetricsOptions, MetricsServer, ServeOptions, MetricsHandler, ExpositionFormat, ScrapeFormat } from './meter/meter.js';
export type { ClusterOptions, ClusterRole } from './meter/cluster-link.js';
export type { GaugeAggregate } from './catalog/index.js';
export type { HttpOptions, HttpMiddleware, HttpHandler } from './meter/http.js';
export { PipemeterError } from './shared/errors.js';
export type { Logger } from './shared/errors.js';
export type { InstrumentationErrorReason } from './meter/errors.js';
export { Counter, Gauge, Histogram, BoundCounter, BoundGauge, BoundHistogram } from './meter/instruments.js';
export type { ExemplarLabels } from './meter/instruments.js';
export type { NativeHistogramOptions } from './catalog/index.js';
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
