import express from 'express';
import { Histogram as PromHistogram, Summary as PromSummary } from 'prom-client';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { CONTENT_TYPE, type Meter, createMeter, parseExposition } from '../../src/index.js';
import { keyOf } from '../../src/meter/native.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { type DecodedFamily, decodeDelimited, labelsOf, nativeCounts } from '../helpers/protobuf.js';

// Every text exposition rendered with expo.text() is checked by `promtool check metrics` at the end of the file.
const expo = lintedExpositions();

const NATIVE_ACCEPT =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

async function protobufOf(m: Meter): Promise<Buffer> {
  const chunks = await m.renderChunks('protobuf');
  const body = Buffer.concat(chunks);
  m.releaseChunks(chunks);
  return body;
}

const fmtLe = (v: number) => (v === Infinity ? '+Inf' : String(v));

/** classicSamples lists the samples Prometheus reads from decoded families when it reads them as classic ones. */
function classicSamples(families: DecodedFamily[]): Map<string, number> {
  const out = new Map<string, number>();
  const key = (name: string, labels: Record<string, string>) =>
    name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  for (const f of families) {
    for (const m of f.metric) {
      const l = labelsOf(m.label);
      if (m.counter) out.set(key(f.name, l), m.counter.value);
      else if (m.gauge) out.set(key(f.name, l), m.gauge.value);
      else if (m.untyped) out.set(key(f.name, l), m.untyped.value);
      else if (m.summary) {
        for (const q of m.summary.quantile ?? []) out.set(key(f.name, { ...l, quantile: String(q.quantile) }), q.value);
        out.set(key(`${f.name}_sum`, l), m.summary.sampleSum);
        out.set(key(`${f.name}_count`, l), m.summary.sampleCount);
      } else if (m.histogram) {
        const h = m.histogram;
        for (const b of h.bucket ?? []) out.set(key(`${f.name}_bucket`, { ...l, le: fmtLe(b.upperBound) }), b.cumulativeCount);
        out.set(key(`${f.name}_bucket`, { ...l, le: '+Inf' }), h.sampleCount);
        out.set(key(`${f.name}_sum`, l), h.sampleSum);
        out.set(key(`${f.name}_count`, l), h.sampleCount);
      }
    }
  }
  return out;
}

function textSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of parseExposition(text, 'text').families) {
    for (const s of f.samples) out.set(s.name + JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1))), s.value);
  }
  return out;
}

describe('protobuf exposition', () => {
  it('carries every sample of the text exposition, prom-client registry included, each message re-encoding to the same bytes', async () => {
    const m = createMeter({ service: 'pb' });
    m.scraper('beatport').itemCreated('track', 'https://www.beatport.com/track/x/1');
    m.pipeline('video').job('job-1').stageObserved('transcription', 12.5);
    const c = m.counter({ name: 'odd_total', help: 'Odd label values: ünïcödé and long.', labels: ['v'] });
    c.inc({ v: 'zoë "quoted" \\ \n' }, 2.5);
    c.inc({ v: 'x'.repeat(300) });
    m.gauge({ name: 'temperature_celsius', help: 'A gauge.' }).set({}, -3.25);
    m.counter({ name: 'unused_total', help: 'Declared, never written.', labels: ['k'] });
    const summary = new PromSummary({ name: 'legacy_latency_seconds', help: 'A prom-client summary.', labelNames: ['route'], percentiles: [0.5, 0.9], registers: [m.registry] });
    summary.observe({ route: '/a' }, 0.2);
    summary.observe({ route: '/a' }, 0.4);
    new PromHistogram({ name: 'legacy_size_bytes', help: 'A prom-client histogram.', buckets: [10, 100], registers: [m.registry] }).observe(42);

    const families = decodeDelimited(await protobufOf(m));
    const text = textSamples(await m.metrics());
    const pb = classicSamples(families);
    // prom-client's process collectors read the process anew at each render: their values move, their series do not.
    const moving = (k: string) => k.startsWith('process_') || k.startsWith('nodejs_');
    expect([...pb.keys()].sort()).toEqual([...text.keys()].sort());
    for (const [k, v] of text) if (!moving(k)) expect(pb.get(k), k).toBe(v);

    const byName = new Map(families.map((f) => [f.name, f]));
    expect(byName.get('scraper_items_created_total')).toMatchObject({ type: 'COUNTER', help: 'Items a scraper created, by item type and source domain.' });
    expect(byName.get('pipeline_stage_duration_seconds')).toMatchObject({ type: 'HISTOGRAM', unit: 'seconds' });
    expect(byName.get('legacy_latency_seconds')).toMatchObject({ type: 'SUMMARY' });
    expect(byName.get('temperature_celsius')).toMatchObject({ type: 'GAUGE' });
    // A family without series is left out, as in the text formats.
    const textFamilies = parseExposition(await m.metrics(), 'text').families.filter((f) => f.samples.length > 0).map((f) => f.name);
    expect(families.map((f) => f.name).sort()).toEqual(textFamilies.sort());
    expect(byName.has('unused_total')).toBe(false);
  });

  it('frames a label name of 128 bytes or more with a varint length', async () => {
    const m = createMeter({ service: 'pb', defaultMetrics: false });
    const name = `l${'a'.repeat(199)}`;
    m.counter({ name: 'long_label_total', help: 'A long label name.', labels: [name] }).inc({ [name]: 'v' });
    const family = decodeDelimited(await protobufOf(m)).find((f) => f.name === 'long_label_total')!;
    expect(family.metric.map((x) => (x.label ?? []).map((l) => [l.name, l.value]))).toEqual([[[name, 'v']]]);
  });

  it('writes native buckets beside the classic ones: schema, zero bucket, spans and deltas of both signs', async () => {
    const m = createMeter({ defaultMetrics: false });
    const h = m.histogram({ name: 'delta_seconds', help: 'Signed.', labels: ['k'], buckets: [-1, 0, 1, 10], native: true });
    const values = [0.001, 0.0011, 1, 1.5, 2, 3, 100, 1e6, -0.5, -2, -2.1, 0, 1e-40];
    const t0 = Date.now();
    for (const v of values) h.observe({ k: 'a' }, v);
    const [f] = decodeDelimited(await protobufOf(m)).filter((x) => x.name === 'delta_seconds');
    const hist = f!.metric[0]!.histogram!;
    expect(hist).toMatchObject({ sampleCount: values.length, schema: 3, zeroThreshold: 2 ** -128, zeroCount: 2 });
    expect(hist.sampleSum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 6);
    const want = (sign: 1 | -1) => {
      const w = new Map<number, number>();
      for (const v of values.filter((x) => x * sign > 2 ** -128)) w.set(keyOf(v * sign, 3), (w.get(keyOf(v * sign, 3)) ?? 0) + 1);
      return w;
    };
    expect(nativeCounts(hist.positiveSpan, hist.positiveDelta)).toEqual(want(1));
    expect(nativeCounts(hist.negativeSpan, hist.negativeDelta)).toEqual(want(-1));
    // Far-apart buckets are separate spans: 1e6 is hundreds of buckets above 100.
    expect(hist.positiveSpan!.length).toBeGreaterThan(2);
    expect(hist.bucket!.map((b) => [b.upperBound, b.cumulativeCount])).toEqual([
      [-1, 2],
      [0, 4],
      [1, 8],
      [10, 11],
    ]);
    const created = (hist.createdTimestamp!.seconds ?? 0) * 1000 + (hist.createdTimestamp!.nanos ?? 0) / 1e6;
    expect(created).toBeGreaterThanOrEqual(t0 - 1);
    expect(created).toBeLessThanOrEqual(Date.now());
  });

  it('writes the lowered schema of a series that hit its bucket limit', async () => {
    const m = createMeter({ defaultMetrics: false });
    const h = m.histogram({ name: 'wide_seconds', help: 'Wide.', buckets: [1], native: { maxBuckets: 20 } });
    for (let i = 0; i < 500; i++) h.observe({}, 1.05 ** i);
    const hist = decodeDelimited(await protobufOf(m)).find((x) => x.name === 'wide_seconds')!.metric[0]!.histogram!;
    expect(hist.schema).toBeLessThan(3);
    const counts = nativeCounts(hist.positiveSpan, hist.positiveDelta);
    expect(counts.size).toBeLessThanOrEqual(20);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(500);
  });

  it('marks a native histogram with a zero threshold of 0 and no data with a no-op span', async () => {
    const m = createMeter({ defaultMetrics: false });
    m.histogram({ name: 'idle_seconds', help: 'Idle.', buckets: [1], native: { zeroThreshold: 0 } }).zero({});
    const hist = decodeDelimited(await protobufOf(m)).find((x) => x.name === 'idle_seconds')!.metric[0]!.histogram!;
    expect(hist).toMatchObject({ sampleCount: 0, zeroThreshold: 0, zeroCount: 0, positiveSpan: [{ offset: 0, length: 0 }] });
  });

  it('carries exemplars on counters and on classic buckets (the +Inf bucket only to carry one), with created timestamps', async () => {
    const m = createMeter({ defaultMetrics: false });
    const job = m.pipeline('crawl', { stages: ['embedding'] }).job('crawl-7f3a');
    job.stageObserved('embedding', 0.3);
    job.stageObserved('embedding', 99_999);
    const c = m.counter({ name: 'pages_total', help: 'Pages.' });
    c.inc({}, 1, { trace_id: 'abc' });
    const families = decodeDelimited(await protobufOf(m));
    const stage = families.find((f) => f.name === 'pipeline_stage_duration_seconds')!.metric.find((x) => labelsOf(x.label).outcome === 'success')!;
    const buckets = stage.histogram!.bucket!;
    expect(buckets.at(-1)).toMatchObject({ upperBound: Infinity, cumulativeCount: 2, exemplar: { label: [{ name: 'job_id', value: 'crawl-7f3a' }], value: 99_999 } });
    const withExemplar = buckets.filter((b) => b.exemplar !== undefined);
    expect(withExemplar.map((b) => b.upperBound)).toEqual([0.5, Infinity]);
    const ts = withExemplar[0]!.exemplar!.timestamp!;
    expect(Math.abs((ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6 - Date.now())).toBeLessThan(5_000);
    const counter = families.find((f) => f.name === 'pages_total')!.metric[0]!.counter!;
    expect(counter).toMatchObject({ value: 1, exemplar: { label: [{ name: 'trace_id', value: 'abc' }], value: 1 } });
    expect(counter.createdTimestamp!.seconds).toBeGreaterThan(1.7e9);
    // A family without an exemplar on its +Inf bucket leaves that bucket out, as client_golang does.
    const failure = families.find((f) => f.name === 'pipeline_stage_duration_seconds')!.metric.find((x) => labelsOf(x.label).outcome === 'failure')!;
    expect(failure.histogram!.bucket!.at(-1)!.upperBound).toBe(3600);
  });

  it('frames families larger than a 256 KiB chunk and metrics longer than 127 bytes', async () => {
    const m = createMeter({ defaultMetrics: false, maxSeries: 5000 });
    const h = m.histogram({ name: 'many_seconds', help: 'Many.', labels: ['site'], buckets: [0.1, 1, 10], native: true });
    for (let i = 0; i < 3000; i++) for (let j = 0; j < 20; j++) h.observe({ site: `site-${i}` }, 0.001 * 1.7 ** j);
    const body = await protobufOf(m);
    expect(body.length).toBeGreaterThan(3 * 256 * 1024);
    const [f] = decodeDelimited(body).filter((x) => x.name === 'many_seconds');
    expect(f!.metric).toHaveLength(3000);
    expect(f!.metric.every((x) => x.histogram!.sampleCount === 20 && nativeCounts(x.histogram!.positiveSpan, x.histogram!.positiveDelta).size === 20)).toBe(true);
  });

  it('leaves the text formats byte for byte as they are when a histogram keeps native buckets too', async () => {
    const record = (m: Meter) => {
      const s = m.scraper('beatport');
      // Failures: a success would also set the last-success time, which differs between the two meters.
      for (const v of [0.5, 3, 42, 900, 20_000]) s.recordRun({ outcome: 'failure', durationSeconds: v });
      return m;
    };
    const native = record(createMeter({ defaultMetrics: false }));
    const classic = record(createMeter({ defaultMetrics: false, families: { scraper_run_duration_seconds: { native: false } } }));
    expect(native.getFamily('scraper_run_duration_seconds')!.native).toBeDefined();
    expect(classic.getFamily('scraper_run_duration_seconds')!.native).toBeUndefined();
    const strip = (t: string) => t.replace(/ # \{[^}]*\} \S+ \S+/g, '');
    expect(await expo.text(native)).toBe(await classic.metrics());
    expect(strip(await native.metrics({ openMetrics: true }))).toBe(strip(await classic.metrics({ openMetrics: true })));
  });
});

describe('/metrics negotiates protobuf', () => {
  const m = createMeter({ defaultMetrics: false });
  m.pipeline('video').job('job-1').stageObserved('indexing', 0.3);
  const app = express();
  app.use(m.router());

  it('answers Prometheus with native histograms on in protobuf', async () => {
    const res = await request(app)
      .get('/metrics')
      .set('Accept', NATIVE_ACCEPT)
      .buffer(true)
      .parse((r, cb) => {
        const parts: Buffer[] = [];
        r.on('data', (d: Buffer) => parts.push(d));
        r.on('end', () => cb(null, Buffer.concat(parts)));
      });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(CONTENT_TYPE.protobuf);
    expect(res.headers.vary).toBe('Accept, Accept-Encoding');
    const families = decodeDelimited(res.body as Buffer);
    expect(families.find((f) => f.name === 'pipeline_stage_duration_seconds')!.metric.some((x) => x.histogram!.sampleCount === 1)).toBe(true);
  });

  it('compresses it when asked', async () => {
    const big = createMeter({ defaultMetrics: false });
    const c = big.counter({ name: 'many_total', help: 'Many.', labels: ['k'] });
    for (let i = 0; i < 500; i++) c.inc({ k: `v${i}` });
    const srv = await big.serve({ port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(srv.url, { headers: { accept: NATIVE_ACCEPT, 'accept-encoding': 'gzip' } });
      expect(res.headers.get('content-type')).toBe(CONTENT_TYPE.protobuf);
      // fetch decodes gzip itself: the body is the protobuf, and decodes whole.
      const families = decodeDelimited(Buffer.from(await res.arrayBuffer()));
      expect(families.find((f) => f.name === 'many_total')!.metric).toHaveLength(500);
    } finally {
      await srv.close();
    }
  });
});
