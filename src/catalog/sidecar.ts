/** Sidecar families: what the ingest API, webhooks and the job table accepted, refused and evicted. */
import { counter, gauge } from './family.js';

export const ingestEvents = counter({
  name: 'pipemeter_ingest_events_total',
  help: 'Events received by the sidecar, by source and outcome (accepted or rejected).',
  labels: ['source', 'outcome'],
  domain: 'sidecar',
  values: { outcome: ['accepted', 'rejected'] },
});

export const ingestRejected = counter({
  name: 'pipemeter_ingest_rejected_total',
  help: 'Events or requests the sidecar refused, by source and reason.',
  labels: ['source', 'reason'],
  domain: 'sidecar',
});

export const webhookDuplicates = counter({
  name: 'pipemeter_webhook_duplicates_total',
  help: 'Webhook deliveries dropped because the same event was already applied.',
  labels: ['pipeline'],
  domain: 'sidecar',
});

export const jobsTracked = gauge({
  name: 'pipemeter_jobs_tracked',
  help: 'Jobs held in the sidecar\'s in-flight job table.',
  labels: ['pipeline'],
  domain: 'sidecar',
  aggregate: 'sum',
});

export const jobsEvicted = counter({
  name: 'pipemeter_jobs_evicted_total',
  help: 'Jobs removed from the in-flight job table without finishing, by reason (ttl or capacity).',
  labels: ['pipeline', 'reason'],
  domain: 'sidecar',
  values: { reason: ['ttl', 'capacity'] },
});

/** Events the job table saw out of order: the values of `pipemeter_jobs_out_of_order_total{kind}`. */
export const jobAnomalies = [
  'duplicate_queued',
  'queued_after_start',
  'duplicate_start',
  'late_event',
  'stage_unknown_job',
  'finish_unknown_job',
  'duplicate_finish',
] as const;

export const jobsOutOfOrder = counter({
  name: 'pipemeter_jobs_out_of_order_total',
  help: 'Job events that arrived out of order (finish before start, duplicate start, stage of an unknown job), by kind; none is fatal.',
  labels: ['pipeline', 'kind'],
  domain: 'sidecar',
  values: { kind: jobAnomalies },
});

export const statsdDatagramsDropped = counter({
  name: 'pipemeter_statsd_datagrams_dropped_total',
  help: 'StatsD datagrams the kernel dropped before the sidecar read them, because the socket receive buffer was full (Linux: the socket\'s drops in /proc/net/udp).',
  labels: [],
  domain: 'sidecar',
});

/** Why a listener closed a connection it did not serve: the values of `pipemeter_connections_refused_total{reason}`. */
export const connectionRefusals = ['max_connections', 'per_address', 'idle_timeout', 'headers_timeout'] as const;
export type ConnectionRefusal = (typeof connectionRefusals)[number];

export const connectionsRefused = counter({
  name: 'pipemeter_connections_refused_total',
  help: 'Connections a sidecar listener closed without serving them: past its connection cap or its cap per client address, or idle or slow to send headers past a timeout, by listener and reason.',
  labels: ['listener', 'reason'],
  domain: 'sidecar',
  values: { listener: ['metrics', 'ingest'], reason: connectionRefusals },
});

/** The sidecar's bounded tables of keys: the values of `pipemeter_table_evictions_total{table}`. */
export const boundedTables = ['webhook_dedup', 'finished_jobs', 'rate_limit_clients', 'statsd_names'] as const;

export const tableEvictions = counter({
  name: 'pipemeter_table_evictions_total',
  help: 'Keys a bounded table of the sidecar forgot to make room for new ones (webhook dedup keys, finished job keys, rate-limited client addresses, resolved StatsD names), by table.',
  labels: ['table'],
  domain: 'sidecar',
  values: { table: boundedTables },
});

export const sidecarFamilies = [
  ingestEvents,
  ingestRejected,
  webhookDuplicates,
  jobsTracked,
  jobsEvicted,
  jobsOutOfOrder,
  statsdDatagramsDropped,
  connectionsRefused,
  tableEvictions,
] as const;
