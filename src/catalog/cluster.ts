/** Cluster aggregation's own families: what a primary merged from its workers, and what it could not. */
import { counter, gauge } from './family.js';

/** Why a primary could not merge a change a worker sent: the values of `pipemeter_cluster_changes_dropped_total{reason}`. */
export const clusterDropReasons = [
  // A message the primary could not read (not the protocol's shape); counted once per message.
  'malformed',
  // A message of a protocol version this primary does not speak; counted once per message.
  'version',
  // A change to a family the worker declared differently from the primary (type, labels, buckets, gauge aggregate).
  'family_conflict',
  // A change to a series the worker never defined.
  'unknown_series',
  // A family or series past the primary's bounds on what one worker may define (1 000 families, 100 000 series).
  'worker_limit',
  // A value no instrument would have recorded: a negative or non-finite counter increment, a NaN.
  'invalid_value',
] as const;
export type ClusterDropReason = (typeof clusterDropReasons)[number];

export const clusterWorkers = gauge({
  name: 'pipemeter_cluster_workers',
  help: 'Worker meters whose changes this primary merges: connected and not exited.',
  labels: [],
  domain: 'cluster',
  aggregate: 'sum',
});

export const clusterBatches = counter({
  name: 'pipemeter_cluster_batches_received_total',
  help: 'Batches of changes this primary received from its workers.',
  labels: [],
  domain: 'cluster',
});

export const clusterDropped = counter({
  name: 'pipemeter_cluster_changes_dropped_total',
  help: 'Changes from workers this primary could not merge, by reason; a message it could not read counts once.',
  labels: ['reason'],
  domain: 'cluster',
  values: { reason: clusterDropReasons },
});

export const clusterFlushesDeferred = counter({
  name: 'pipemeter_cluster_flushes_deferred_total',
  help: 'Flushes a worker put off because the primary had not yet acknowledged its previous batch; the changes stay in the worker and go with its next batch.',
  labels: [],
  domain: 'cluster',
});

export const clusterFamilies = [clusterWorkers, clusterBatches, clusterDropped, clusterFlushesDeferred] as const;
