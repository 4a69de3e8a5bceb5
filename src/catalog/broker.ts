/** Broker queue families: what the sidecar's pollers read from Celery, Dramatiq, RQ and BullMQ queues on Redis. */
import { counter, gauge } from './family.js';

/** The broker kinds a poller understands: the `kind` of a `brokers:` entry. */
export const brokerKinds = ['celery', 'dramatiq', 'rq', 'bullmq'] as const;
export type BrokerKind = (typeof brokerKinds)[number];

export const queueDepth = gauge({
  name: 'queue_depth',
  help: 'Messages waiting in a broker queue (every priority level, not yet taken by a worker), as last polled.',
  labels: ['broker', 'queue'],
  domain: 'broker',
  aggregate: 'max',
});

export const queueOldestMessageAge = gauge({
  name: 'queue_oldest_message_age_seconds',
  help: 'Age of the oldest message waiting in a broker queue, as last polled; 0 when the queue is empty. Not exported for brokers whose messages carry no enqueue time (Celery).',
  labels: ['broker', 'queue'],
  domain: 'broker',
  unit: 'seconds',
  aggregate: 'max',
});

export const brokerUp = gauge({
  name: 'broker_up',
  help: 'Whether the last poll of the broker succeeded (1) or not (0).',
  labels: ['broker'],
  domain: 'broker',
  aggregate: 'min',
});

export const brokerPollErrors = counter({
  name: 'pipemeter_broker_poll_errors_total',
  help: 'Broker polls that failed (connection refused, timeout, unexpected reply).',
  labels: ['broker'],
  domain: 'broker',
});

export const brokerFamilies = [queueDepth, queueOldestMessageAge, brokerUp, brokerPollErrors] as const;
