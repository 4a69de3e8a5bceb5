/** The catalog families as typed instruments of one meter. */
import * as cat from '../catalog/index.js';
import type { FamilyDef } from '../catalog/index.js';
import { Counter, Gauge, Histogram } from './instruments.js';

type Make = {
  counter<L extends string>(def: FamilyDef<L>): Counter<L>;
  gauge<L extends string>(def: FamilyDef<L>): Gauge<L>;
  histogram<L extends string>(def: FamilyDef<L>): Histogram<L>;
};

export function catalogInstruments(m: Make) {
  return {
    scraperItemsCreated: m.counter(cat.scraperItemsCreated),
    scraperSchemaErrors: m.counter(cat.scraperSchemaErrors),
    scraperRuns: m.counter(cat.scraperRuns),
    scraperRunDuration: m.histogram(cat.scraperRunDuration),
    scraperLastSuccess: m.gauge(cat.scraperLastSuccess),
    pipelineJobsStarted: m.counter(cat.pipelineJobsStarted),
    pipelineJobsFinished: m.counter(cat.pipelineJobsFinished),
    pipelineJobsInProgress: m.gauge(cat.pipelineJobsInProgress),
    pipelineQueueDepth: m.gauge(cat.pipelineQueueDepth),
    pipelineJobDuration: m.histogram(cat.pipelineJobDuration),
    pipelineJobE2eDuration: m.histogram(cat.pipelineJobE2eDuration),
    pipelineQueueWait: m.histogram(cat.pipelineQueueWait),
    pipelineStageDuration: m.histogram(cat.pipelineStageDuration),
    pipelineJobFailures: m.counter(cat.pipelineJobFailures),
    pipelineItems: m.counter(cat.pipelineItems),
    pipelineRealtimeFactor: m.histogram(cat.pipelineRealtimeFactor),
    pipelineLastSuccess: m.gauge(cat.pipelineLastSuccess),
    seriesOverflow: m.counter(cat.seriesOverflow),
    instrumentationErrors: m.counter(cat.instrumentationErrors),
    nativeResolutionReductions: m.counter(cat.nativeResolutionReductions),
    buildInfo: m.gauge(cat.buildInfo),
    ingestEvents: m.counter(cat.ingestEvents),
    ingestRejected: m.counter(cat.ingestRejected),
    webhookDuplicates: m.counter(cat.webhookDuplicates),
    jobsTracked: m.gauge(cat.jobsTracked),
    jobsEvicted: m.counter(cat.jobsEvicted),
    jobsOutOfOrder: m.counter(cat.jobsOutOfOrder),
    statsdDatagramsDropped: m.counter(cat.statsdDatagramsDropped),
    connectionsRefused: m.counter(cat.connectionsRefused),
    tableEvictions: m.counter(cat.tableEvictions),
    probeSuccess: m.gauge(cat.probeSuccess),
    probeDuration: m.gauge(cat.probeDuration),
    queueDepth: m.gauge(cat.queueDepth),
    queueOldestMessageAge: m.gauge(cat.queueOldestMessageAge),
    brokerUp: m.gauge(cat.brokerUp),
    brokerPollErrors: m.counter(cat.brokerPollErrors),
    clusterWorkers: m.gauge(cat.clusterWorkers),
    clusterBatches: m.counter(cat.clusterBatches),
    clusterDropped: m.counter(cat.clusterDropped),
    clusterFlushesDeferred: m.counter(cat.clusterFlushesDeferred),
  };
}

export type CatalogInstruments = ReturnType<typeof catalogInstruments>;

/**
 * httpInstruments makes the HTTP server families with static label names after the catalog's own (`method`, `route`,
 * `status_code`). They are not among the catalog instruments above: their label set is known only when meter.http()
 * is first called, so a meter registers them then.
 */
export function httpInstruments(m: Make, extra: readonly string[]) {
  const withExtra = <L extends string>(def: FamilyDef<L>): FamilyDef => ({ ...def, labels: [...def.labels, ...extra] });
  return {
    duration: m.histogram(withExtra(cat.httpServerRequestDuration)),
    active: m.gauge(withExtra(cat.httpServerActiveRequests)),
  };
}
