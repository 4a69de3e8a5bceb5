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
  ])('Accept %j gives %s', (accept, want) => {
    expect(negotiate(accept)).toBe(want);
  });
});
