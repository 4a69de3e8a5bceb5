/** Scraper families: one process per source site, scraped every 30 s. */
import { jobSeconds } from './buckets.js';
import { counter, gauge, histogram } from './family.js';

export const scraperRunOutcomes = ['success', 'failure'] as const;

export const scraperItemsCreated = counter({
  name: 'scraper_items_created_total',
  help: 'Items a scraper created, by item type and source domain.',
  labels: ['scraper', 'item_type', 'source'],
  domain: 'scraper',
});

export const scraperSchemaErrors = counter({
  name: 'scraper_schema_errors_total',
  help: 'Items a scraper rejected or failed to build, by item type and error type.',
  labels: ['scraper', 'item_type', 'error_type'],
  domain: 'scraper',
});

export const scraperRuns = counter({
  name: 'scraper_runs_total',
  help: 'Scraper runs finished, by outcome.',
  labels: ['scraper', 'outcome'],
  domain: 'scraper',
  values: { outcome: scraperRunOutcomes },
});

export const scraperRunDuration = histogram({
  name: 'scraper_run_duration_seconds',
  help: 'Wall time of one scraper run, by outcome.',
  labels: ['scraper', 'outcome'],
  domain: 'scraper',
  unit: 'seconds',
  buckets: jobSeconds,
  native: true,
  values: { outcome: scraperRunOutcomes },
});

export const scraperLastSuccess = gauge({
  name: 'scraper_last_success_timestamp_seconds',
  help: 'Unix time of the last successful scraper run.',
  labels: ['scraper'],
  domain: 'scraper',
  unit: 'seconds',
  aggregate: 'max',
});

export const scraperFamilies = [
  scraperItemsCreated,
  scraperSchemaErrors,
  scraperRuns,
  scraperRunDuration,
  scraperLastSuccess,
] as const;
