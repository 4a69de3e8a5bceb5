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
    probeSuccess: m.gauge(cat.probeSuccess),
    probeDuration: m.gauge(cat.probeDuration),
    queueDepth: m.gauge(cat.queueDepth),
    queueOldestMessageAge: m.gauge(cat.queueOldestMessageAge),
    brokerUp: m.gauge(cat.brokerUp),
    brokerPollErrors: m.counter(cat.brokerPollErrors),
  };
}

export type CatalogInstruments = ReturnType<typeof catalogInstruments>;
