/**
 * The sidecar's Node flags in the shipped manifests (Kubernetes, compose). V8 sizes its heap for the machine, not for
 * the container: under the full flood of bench/flood.ts (15 000 000 names and keys) the sidecar's RSS reached 533 MiB
 * with Node's defaults, past the Deployment's 256 MiB memory limit, although what it holds after a GC is under
 * 100 MiB (every table is bounded; docs/reliability.md). Capping the old space makes V8 collect sooner instead of
 * growing: the same flood peaked at 232 MiB with this flag, no scrape failed (bench/results/flood.md).
 */
export const SIDECAR_NODE_OPTIONS = '--max-old-space-size=160';

/** The memory the Kubernetes Deployment gives the sidecar container (requests and limit). */
export const SIDECAR_MEMORY = { request: '64Mi', limit: '256Mi' } as const;
