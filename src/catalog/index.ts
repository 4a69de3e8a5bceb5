/** The metric catalog: every family pipemeter defines, one list that every generator reads. */
import { brokerFamilies } from './broker.js';
import { clusterFamilies } from './cluster.js';
import type { FamilyDef, FamilyDomain } from './family.js';
import { httpFamilies } from './http.js';
import { pipelineFamilies } from './pipeline.js';
import { probeFamilies } from './probe.js';
import { scraperFamilies } from './scraper.js';
import { selfFamilies } from './self.js';
import { sidecarFamilies } from './sidecar.js';

export * from './broker.js';
export * from './buckets.js';
export * from './cluster.js';
export * from './family.js';
export * from './http.js';
export * from './pipeline.js';
export * from './probe.js';
export * from './scraper.js';
export * from './self.js';
export * from './sidecar.js';

export const catalog: readonly FamilyDef[] = [
  ...scraperFamilies,
  ...pipelineFamilies,
  ...httpFamilies,
  ...selfFamilies,
  ...sidecarFamilies,
  ...probeFamilies,
  ...brokerFamilies,
  ...clusterFamilies,
];

/** findFamily returns the catalog family with this name (as exposed, e.g. `scraper_runs_total`). */
export function findFamily(name: string): FamilyDef | undefined {
  return catalog.find((f) => f.name === name);
}

export function familiesOf(domain: FamilyDomain): readonly FamilyDef[] {
  return catalog.filter((f) => f.domain === domain);
}

/**
 * Label names that look like identifiers and would give a family unbounded cardinality.
 * Ids travel as exemplars; URLs are reduced to their host.
 */
export const idLikeLabel = /(^|_)(id|ids|uuid|guid|url|uri|email|timestamp)$/;
