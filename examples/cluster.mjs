// A clustered service instrumented with pipemeter: a node:cluster primary serves one /metrics for its two worker
// processes and a worker thread; each of them records into a worker meter and never serves anything.
// Run after `npm install`: node examples/cluster.mjs          (serves http://localhost:9464/metrics)
//                          node examples/cluster.mjs --once   (each worker scrapes once and exits; prints /metrics)
import cluster from 'node:cluster';
import { Worker, isMainThread } from 'node:worker_threads';
import { createMeter } from 'pipemeter';

const once = process.argv.includes('--once');

if (cluster.isPrimary && isMainThread) {
  const meter = createMeter({ service: 'example-cluster', cluster: 'primary' });
  const server = await meter.serve({ port: once ? 0 : 9464 });
  const workers = [cluster.fork(), cluster.fork()]; // cluster workers join by themselves
  const thread = new Worker(new URL(import.meta.url), { argv: process.argv.slice(2) });
  meter.addWorker(thread); // threads are added right after new Worker()
  if (once) {
    await Promise.all([...workers, thread].map((w) => new Promise((done) => w.once('exit', done))));
    process.stdout.write(await meter.metrics());
    await server.close();
    await meter.close();
  } else {
    console.log(`metrics of the whole service on ${server.url}`);
  }
} else {
  // A cluster worker or the worker thread: the same code, a worker meter that sends its changes to the primary.
  const meter = createMeter({ service: 'example-cluster', cluster: 'worker' });
  const beatport = meter.scraper('beatport', { itemTypes: ['track'] });
  const frontier = meter.gauge({ name: 'crawl_frontier_urls', help: 'URLs waiting in the crawl frontier.', aggregate: 'sum' });
  const scrapeOnce = () =>
    beatport.run(async () => {
      beatport.itemCreated('track', 'https://www.beatport.com/track/x/1', 2);
      frontier.set({}, 10);
    });
  if (!once) {
    setInterval(scrapeOnce, 1000);
  } else {
    await scrapeOnce();
    // A process exits on purpose: flush first. A thread's natural end flushes by itself.
    if (cluster.isWorker) {
      await meter.flush();
      process.exit(0);
    }
  }
}
