import { createServer, get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import { Gauge as PromGauge, Histogram as PromHistogram } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTENT_TYPE, type MetricsServer, createMeter } from '../../src/index.js';
import { lintedExpositions } from '../helpers/exposition.js';

const expo = lintedExpositions();
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

function demoMeter() {
  const m = createMeter({ service: 'crawler', defaultMetrics: false });
  m.scraper('beatport').itemCreated('track', 'https://www.beatport.com/track/x/1');
  m.pipeline('video').job('job-1').stageObserved('indexing', 0.3);
  return m;
}

describe('OpenMetrics rendering', () => {
  it('declares counters without _total, adds UNIT where the name ends in it, and ends with # EOF', async () => {
    const om = await demoMeter().metrics({ openMetrics: true });
    expect(om).toContain(
      '# TYPE scraper_items_created counter\n# HELP scraper_items_created Items a scraper created, by item type and source domain.\nscraper_items_created_total{',
    );
    expect(om).toContain(
      '# TYPE pipeline_stage_duration_seconds histogram\n# UNIT pipeline_stage_duration_seconds seconds\n# HELP pipeline_stage_duration_seconds ',
    );
    expect(om).toContain('# TYPE pipeline_realtime_factor histogram\n# HELP');
    expect(om.endsWith('\n# EOF\n')).toBe(true);
    expect(om.match(/# EOF/g)).toHaveLength(1);
  });

  it('renders prom-client registry metrics after ours, in both formats', async () => {
    const m = demoMeter();
    const legacy = new PromGauge({ name: 'legacy_queue_depth', help: 'Legacy "depth"\\x.', labelNames: ['q'], registers: [m.registry] });
    legacy.set({ q: 'a' }, 4);
    const h = new PromHistogram({ name: 'legacy_seconds', help: 'Legacy.', buckets: [1], registers: [m.registry] });
    h.observe(0.5);
    const text = await expo.text(m);
    expect(text).toContain('# HELP legacy_queue_depth Legacy "depth"\\\\x.\n# TYPE legacy_queue_depth gauge\nlegacy_queue_depth{q="a"} 4\n');
    expect(text).toContain('legacy_seconds_bucket{le="1"} 1\nlegacy_seconds_bucket{le="+Inf"} 1\nlegacy_seconds_sum 0.5\nlegacy_seconds_count 1\n');
    expect(text.indexOf('scraper_items_created_total')).toBeLessThan(text.indexOf('legacy_queue_depth'));
    const om = await m.metrics({ openMetrics: true });
    expect(om).toContain('# TYPE legacy_queue_depth gauge\n# HELP legacy_queue_depth Legacy \\"depth\\"\\\\x.\nlegacy_queue_depth{q="a"} 4\n');
    expect(om.endsWith('# EOF\n')).toBe(true);
  });
});

describe('router', () => {
  const app = express();
  const m = demoMeter();
  app.use(m.router());

  it('answers Prometheus with OpenMetrics and exemplars', async () => {
    const res = await request(app).get('/metrics').set('Accept', PROMETHEUS_ACCEPT);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(CONTENT_TYPE.openmetrics);
    expect(res.text).toMatch(/ # \{job_id="job-1"\} 0\.3 /);
  });

  it('answers a plain client with text 0.0.4 without exemplars', async () => {
    const res = await request(app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(CONTENT_TYPE.text);
    expect(res.text).not.toContain('# {');
    expect(res.text).not.toContain('# EOF');
  });

  it('compresses large bodies when asked, streamed, and sends the same bytes uncompressed otherwise', async () => {
    const big = createMeter({ defaultMetrics: false });
    const c = big.counter({ name: 'many_total', help: 'Many.', labels: ['k'] });
    for (let i = 0; i < 500; i++) c.inc({ k: `v${i}` });
    const srv = await big.serve({ port: 0, host: '127.0.0.1' });
    try {
      const raw = (encoding: string) =>
        new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
          get(srv.url, { headers: { 'accept-encoding': encoding } }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
          }).on('error', reject);
        });
      const zipped = await raw('gzip, deflate');
      const plain = await raw('identity');
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(Number(plain.headers['content-length'])).toBe(plain.body.length);
      expect(zipped.body.length).toBeLessThan(plain.body.length / 4);
      expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
      expect(plain.body.toString()).toContain('many_total{k="v499"} 1\n');
    } finally {
      await srv.close();
    }
  });

  it('mounts under a custom path', async () => {
    const a = express().use(m.router({ path: '/internal/metrics' }));
    expect((await request(a).get('/internal/metrics')).status).toBe(200);
    expect((await request(a).get('/metrics')).status).toBe(404);
  });

  it('hands every other request to the next express handler, and answers HEAD and a query string', async () => {
    const a = express()
      .use(m.router())
      .get('/items/:id', (req, res) => {
        res.send(`item ${req.params.id}`);
      });
    expect((await request(a).get('/items/7')).text).toBe('item 7');
    expect((await request(a).post('/metrics')).status).toBe(404);
    expect((await request(a).head('/metrics')).status).toBe(200);
    expect((await request(a).get('/metrics?x=1')).text).toContain('pipemeter_build_info');
    // Mounted under a prefix, as express strips it from req.url.
    const mounted = express().use('/ops', m.router());
    expect((await request(mounted).get('/ops/metrics')).status).toBe(200);
  });

  it('serves a plain node:http server: /metrics from the handler, anything else 404 without a next', async () => {
    const handler = m.router();
    const srv = createServer((req, res) => handler(req, res));
    expect((await request(srv).get('/metrics')).text).toContain('pipemeter_build_info');
    const other = await request(srv).get('/other');
    expect(other.status).toBe(404);
    expect(other.text).toBe('not found; metrics are at /metrics\n');
  });
});

describe('serve', () => {
  let srv: MetricsServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  it('listens on an ephemeral port, serves /metrics and a landing page, and closes', async () => {
    const m = demoMeter();
    srv = await m.serve({ port: 0, host: '127.0.0.1' });
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/metrics`);
    const res = await fetch(srv.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('scraper_items_created_total{scraper="beatport"');
    const landing = await (await fetch(`http://127.0.0.1:${srv.port}/`)).text();
    expect(landing).toContain('<a href="/metrics">');
    expect((await fetch(`http://127.0.0.1:${srv.port}/nope`)).status).toBe(404);
    expect((await fetch(srv.url, { method: 'POST' })).status).toBe(405);
  });

  it('rejects with the listen error when the port is taken', async () => {
    const m = demoMeter();
    srv = await m.serve({ port: 0, host: '127.0.0.1' });
    await expect(m.serve({ port: srv.port, host: '127.0.0.1' })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('rendering in slices', () => {
  it('gives the event loop back during a large render, and renders every series once', async () => {
    const m = createMeter({ defaultMetrics: false, maxSeries: 100_000 });
    const h = m.histogram({ name: 'big_seconds', help: 'Big.', labels: ['k'], buckets: [0.1, 1, 10] });
    for (let i = 0; i < 30_000; i++) h.observe({ k: `v${i}` }, i % 20);
    let ranDuring = false;
    let rendering = true;
    const probe = setImmediate(() => {
      ranDuring = rendering;
    });
    const text = await m.metrics();
    rendering = false;
    clearImmediate(probe);
    expect(ranDuring).toBe(true);
    expect(text.match(/^big_seconds_count\{/gm)).toHaveLength(30_000);
    expect(text).toContain('big_seconds_bucket{k="v29999",le="10"} 0\nbig_seconds_bucket{k="v29999",le="+Inf"} 1\n');
  });
});

describe('chunk reuse across scrapes', () => {
  it('scrapes of a render larger than one chunk, one after another and at once, all read the same bytes', async () => {
    const m = createMeter({ defaultMetrics: false, maxSeries: 50_000 });
    const h = m.histogram({ name: 'reuse_seconds', help: 'Reuse.', labels: ['k'], buckets: [0.1, 1, 10] });
    for (let i = 0; i < 5_000; i++) h.observe({ k: `value-${i}` }, i % 20);
    const srv = await m.serve({ port: 0, host: '127.0.0.1' });
    try {
      const get = async () => (await fetch(srv.url, { headers: { 'accept-encoding': 'identity' } })).text();
      const first = await get();
      expect(Buffer.byteLength(first)).toBeGreaterThan(3 * 256 * 1024);
      // The second render writes into the first one's chunks; concurrent ones each take their own.
      expect(await get()).toBe(first);
      const together = await Promise.all([get(), get(), get()]);
      expect(together).toEqual([first, first, first]);
      expect(await m.metrics()).toBe(first);
    } finally {
      await srv.close();
    }
  });
});
