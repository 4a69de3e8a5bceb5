// The baseline: prom-client's Registry with its default collectors, one counter, one scrape. Same output as pipemeter.mjs.
const { Counter, Registry, collectDefaultMetrics } = await import('prom-client');
const registry = new Registry();
collectDefaultMetrics({ register: registry });
new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['queue'], registers: [registry] }).inc({ queue: 'default' });
const text = await registry.metrics();
if (!text.includes('jobs_total{queue="default"} 1')) throw new Error('the scrape lacks the counter');
globalThis.gc?.();
process.stdout.write(JSON.stringify({ ms: performance.now(), heapBytes: process.memoryUsage().heapUsed }) + '\n');
