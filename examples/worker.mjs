// A worker instrumented with pipemeter: one scraper and one pipeline, /metrics on an express app.
// Run after `npm install`: node examples/worker.mjs            (serves http://localhost:9464/metrics)
//                          node examples/worker.mjs --once     (records a little work, prints /metrics, exits)
import express from 'express';
import { createMeter } from 'pipemeter';

const meter = createMeter({ service: 'example-worker' });

const beatport = meter.scraper('beatport', { itemTypes: ['track', 'artist'] });
const video = meter.pipeline('video', { stages: ['downloading', 'transcription', 'indexing'] });
const extraction = meter.counter({
  name: 'scraper_extraction_method_total',
  help: 'Pages parsed, by extraction method and whether it worked.',
  labels: ['scraper', 'method', 'success'],
});
const jsonLd = extraction.labels({ scraper: 'beatport', method: 'json_ld', success: 'true' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function scrapeOnce() {
  await beatport.run(async () => {
    for (const id of [1, 2, 3]) {
      beatport.itemCreated('track', `https://www.beatport.com/track/x/${id}`);
      jsonLd.inc();
    }
    beatport.itemCreated('artist', 'https://www.beatport.com/artist/y/9');
    beatport.schemaError('validation', 'track');
  });
}

async function processVideo(id, fail = false) {
  const job = video.job(id, { queuedAt: Date.now() - 1500 });
  try {
    await job.stage('downloading', () => sleep(5));
    await job.stage('transcription', async () => {
      await sleep(10);
      if (fail) throw new Error('transcriber crashed');
    });
    await job.stage('indexing', () => sleep(2));
    job.finish('completed', { mediaSeconds: 0.05 });
  } catch {
    job.finish('failed'); // attributed to the stage that threw: transcription
  }
}

await scrapeOnce();
await processVideo('video-1');
await processVideo('video-2', true);

if (process.argv.includes('--once')) {
  process.stdout.write(await meter.metrics());
} else {
  const app = express();
  app.use(meter.router());
  const port = Number(process.env.PORT ?? 9464);
  app.listen(port, () => console.log(`metrics on http://localhost:${port}/metrics`));
  setInterval(scrapeOnce, 10_000).unref();
  setInterval(() => void processVideo(`video-${Date.now()}`), 3_000);
}
