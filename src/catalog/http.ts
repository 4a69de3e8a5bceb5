/**
 * HTTP server families, named as OpenTelemetry's Prometheus exporter names the semantic conventions'
 * `http.server.request.duration` and `http.server.active_requests`, with the labels `method`, `route` and `status_code`.
 */
import { httpServerSeconds } from './buckets.js';
import { gauge, histogram } from './family.js';

/**
 * The request methods the semantic conventions call known (RFC 9110, PATCH from RFC 5789, QUERY from the httpbis
 * draft); any other method is recorded as `_OTHER`, so a client cannot grow the `method` label.
 */
export const httpKnownMethods = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE'] as const;

/** The `method` value of a request whose method is not known. */
export const HTTP_OTHER_METHOD = '_OTHER';

export const httpServerRequestDuration = histogram({
  name: 'http_server_request_duration_seconds',
  help: 'Duration of HTTP server requests, by method, matched route template ("" when no route matched) and response status code ("" when none was sent).',
  labels: ['method', 'route', 'status_code'],
  domain: 'http',
  unit: 'seconds',
  buckets: httpServerSeconds,
});

export const httpServerActiveRequests = gauge({
  name: 'http_server_active_requests',
  help: 'HTTP server requests received and not yet answered or closed, by method.',
  labels: ['method'],
  domain: 'http',
});

export const httpFamilies = [httpServerRequestDuration, httpServerActiveRequests] as const;
