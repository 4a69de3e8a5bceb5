/** Default histogram buckets, in base units; every family's buckets can be overridden per meter. */

/** One pipeline stage: 10 ms .. 1 h. */
export const stageSeconds = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
] as const;

/** A whole job or scraper run: 1 s .. 4 h. */
export const jobSeconds = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400] as const;

/** Time spent queued: 100 ms .. 2 h. */
export const queueWaitSeconds = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200] as const;

/** Real-time factor (processing seconds / media seconds): 0.05 .. 20. */
export const realtimeFactor = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20] as const;

/** An HTTP server request: OpenTelemetry's advised buckets for `http.server.request.duration`, 5 ms .. 10 s. */
export const httpServerSeconds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] as const;
