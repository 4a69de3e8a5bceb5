import { describe, expect, it } from 'vitest';
import { negotiate } from '../../src/index.js';

describe('negotiate', () => {
  it.each([
    // What Prometheus 2.x sends by default.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'openmetrics'],
    // Prometheus with scrape_protocols / OpenMetrics disabled.
    ['text/plain;version=0.0.4;q=1,*/*;q=0.1', 'text'],
    ['application/openmetrics-text; version=1.0.0', 'openmetrics'],
    ['text/plain;q=0.9, application/openmetrics-text;q=0.5', 'text'],
    ['application/openmetrics-text;q=0.9, text/plain;q=0.5', 'openmetrics'],
    ['application/openmetrics-text;q=0', 'text'],
    ['*/*', 'text'],
    ['application/json', 'text'],
    ['', 'text'],
    [undefined, 'text'],
    // Prometheus 2.42 with --enable-feature=native-histograms.
    [
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'protobuf',
    ],
    // Later Prometheus versions list it with a q below 1.
    ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2', 'protobuf'],
    ['application/openmetrics-text;version=1.0.0,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', 'openmetrics'],
    ['text/plain;q=0.5,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5', 'text'],
    ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,text/plain;q=0.5', 'protobuf'],
    // Only delimited MetricFamily messages: not the text or compact-text encodings, not another message.
    ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text', 'text'],
    ['application/vnd.google.protobuf;proto=other.Message;encoding=delimited', 'text'],
    ['application/vnd.google.protobuf;encoding=delimited', 'text'],
    ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0', 'text'],
  ])('Accept %j gives %s', (accept, want) => {
    expect(negotiate(accept)).toBe(want);
  });
});
