// One cold start of the library as a worker meets it: import the package, make a meter, one counter, one scrape.
// Prints the milliseconds since the process started and the heap after a full GC, as JSON.
const { createMeter } = await import('pipemeter');
const meter = createMeter({ service: 'cold-start' });
meter.counter({ name: 'jobs_total', help: 'Jobs.', labels: ['queue'] }).inc({ queue: 'default' });
const text = await meter.metrics();
if (!text.includes('jobs_total{queue="default"} 1')) throw new Error('the scrape lacks the counter');
globalThis.gc?.();
process.stdout.write(JSON.stringify({ ms: performance.now(), heapBytes: process.memoryUsage().heapUsed }) + '\n');
