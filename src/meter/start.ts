/** The catalog families a meter exposes before any event once it has a scraper and a pipeline handle. */
import {
  type FamilyDef,
  buildInfo,
  instrumentationErrors,
  pipelineJobDuration,
  pipelineJobE2eDuration,
  pipelineJobsFinished,
  pipelineJobsInProgress,
  pipelineJobsStarted,
  pipelineQueueDepth,
  pipelineQueueWait,
  pipelineRealtimeFactor,
  scraperRunDuration,
  scraperRuns,
  seriesOverflow,
} from '../catalog/index.js';

/**
 * familiesAtStart: what a pipemeter handle exposes at 0 before it records anything, so `check --catalog` can call
 * the absence of one a finding. The Scraper and Pipeline constructors start these (test/meter/start.test.ts holds
 * the list to what a fresh meter exposes).
 */
export const familiesAtStart: readonly FamilyDef[] = [
  scraperRuns,
  scraperRunDuration,
  pipelineJobsStarted,
  pipelineJobsFinished,
  pipelineJobsInProgress,
  pipelineQueueDepth,
  pipelineJobDuration,
  pipelineJobE2eDuration,
  pipelineQueueWait,
  pipelineRealtimeFactor,
  seriesOverflow,
  instrumentationErrors,
  buildInfo,
];
