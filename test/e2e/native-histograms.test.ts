/**
 * Native histograms through a real Prometheus (Debian's 2.42): two servers scrape the same library meter and the same
 * sidecar, one with --enable-feature=native-histograms (it asks for protobuf and keeps the native form only), one
 * without (OpenMetrics, classic buckets, as before). Both load the shipped recording rules. The quantiles of a
 * log-normal spanning 1 ms to 1 h come back within 3 % from the native histogram; every recording rule and every
 * dashboard query over a histogram has data in both worlds.
 */
import { createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { catalog, stageSeconds } from '../../src/catalog/index.js';
import { Random } from '../../src/demo/random.js';
import { generateAll } from '../../src/deploy/index.js';
import { histogramQuantile } from '../../src/deploy/promql.js';
import { defaults } from '../../src/deploy/settings.js';
import { type Meter, type MetricsServer, createMeter } from '../../src/index.js';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/host.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { describeWithTools } from '../helpers/tools.js';
import { until } from './helpers/poll.js';
import { type Tool, freePort, startTool } from './helpers/process.js';
import { dashboardQueries, recordingRules, substituteGrafana } from './helpers/stack.js';

/** 1 ms and 1 h are the 0.1 % and 99.9 % quantiles: median sqrt(0.001 * 3600) s, spread e^(ln(3.6e6) / 2 / 3.09). */
const MEDIAN = Math.sqrt(0.001 * 3600);
const SPREAD = Math.exp(Math.log(3600 / 0.001) / 2 / 3.0902);
const SAMPLES = 20_000;
const QUANTILES = [0.5, 0.95, 0.99];
const MAX_ERROR = 0.03;

const sidecarYaml = `
pipelines:
  video: { stages: [download, transcription] }
scrapers:
  spotify: { item_types: [track] }
families:
  - { name: upload_size_bytes, type: histogram, help: Upload sizes., buckets: [1000, 1000000], native: true }
statsd:
  enabled: true
  mappings:
    - match: "video.stage.*"
      family: pipeline_stage_duration_seconds
      labels: { pipeline: video, stage: "$1", outcome: success }
`;

interface Result {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string; buckets?: unknown[] }];
}

describeWithTools(['prometheus'], 'native histograms through a real Prometheus, with the feature on and off', () => {
  let dir = '';
  let meter: Meter;
  let server: MetricsServer | undefined;
  let sidecar: RunningSidecar | undefined;
  /** A node:http service behind meter.http(), asked a few routes five times a second, so the HTTP rules and panels have data. */
  let api: Server | undefined;
  let calls: NodeJS.Timeout | undefined;
  const proms: { on?: Tool; off?: Tool } = {};
  const urls = { on: '', off: '' };
  const samples: number[] = [];
  const files = generateAll(defaults);

  async function query(world: 'on' | 'off', expr: string): Promise<Result[]> {
    const res = await fetch(`${urls[world]}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; error?: string; data: { result: Result[] } };
    if (body.status !== 'success') throw new Error(`${world}: ${expr}: ${body.error}`);
    return body.data.result;
  }
  const finite = (rs: Result[]) => rs.filter((r) => r.value !== undefined && Number.isFinite(Number(r.value[1])));
  const logs = () => `--- on ---\n${proms.on?.log() ?? ''}\n--- off ---\n${proms.off?.log() ?? ''}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipemeter-native-'));
    meter = createMeter({ service: 'native-e2e' });
    const probe = meter.histogram({ name: 'probe_latency_seconds', help: 'Log-normal, 1 ms to 1 h.', buckets: stageSeconds, native: true });
    probe.zero({});
    meter.scraper('spotify', { itemTypes: ['track'] });
    meter.pipeline('crawl', { stages: ['embedding'] });
    server = await meter.serve({ port: 0, host: '127.0.0.1' });
    const apiServer = (api = createServer(
      meter.http({ route: (req) => (req.url === '/broken' ? '/broken' : '/items/:id') }).wrap((req, res) => {
        res.statusCode = req.url === '/broken' ? 500 : 200;
        res.end('ok');
      }),
    ));
    await new Promise<void>((resolve) => apiServer.listen(0, '127.0.0.1', () => resolve()));
    const paths = ['/items/1', '/items/2', '/broken'];
    let n = 0;
    calls = setInterval(() => void fetch(`http://127.0.0.1:${(apiServer.address() as AddressInfo).port}${paths[n++ % paths.length]}`).then((r) => r.text(), () => undefined), 200);
    sidecar = await startSidecar(loadConfig(sidecarYaml, 'native.yaml'), { metricsPort: 0, ingestPort: 0, statsdPort: 0, metricsHost: '127.0.0.1' });

    const targets = `['127.0.0.1:${server.port}']`;
    const sidecarTarget = `['${new URL(sidecar.metricsUrl).host}']`;
    writeFileSync(join(dir, 'recording.yml'), files.find((f) => f.path === 'deploy/prometheus/rules/recording.yml')!.content);
    // The jobs the shipped rules read (settings.jobs): the library as a worker, the sidecar as pipemeter.
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [recording.yml]
scrape_configs:
  - { job_name: pipemeter-workers, static_configs: [{ targets: ${targets} }] }
  - { job_name: pipemeter, static_configs: [{ targets: ${sidecarTarget} }] }
`,
    );
    for (const world of ['on', 'off'] as const) {
      const port = await freePort();
      urls[world] = `http://127.0.0.1:${port}`;
      proms[world] = startTool(`prometheus (${world})`, 'prometheus', [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, `data-${world}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--enable-feature=exemplar-storage${world === 'on' ? ',native-histograms' : ''}`,
        '--log.level=warn',
      ]);
    }
    // Both servers scrape both targets, and hold a sample of the series from before the observations below.
    for (const world of ['on', 'off'] as const) {
      await until(`prometheus (${world}) to scrape both targets twice`, async () => {
        const up = await query(world, 'count_over_time(up[1m]) >= 2 and up == 1');
        return up.length === 2 ? true : undefined;
      }, { ms: 45_000, detail: logs });
    }

    // The observations: a log-normal into a library histogram, and catalog families in both processes.
    const rnd = new Random(16);
    for (let i = 0; i < SAMPLES; i++) {
      const v = rnd.lognormal(MEDIAN, SPREAD);
      samples.push(v);
      probe.observe({}, v);
    }
    samples.sort((a, b) => a - b);
    const spotify = meter.scraper('spotify');
    for (const v of [12, 30, 95]) spotify.recordRun({ outcome: 'success', durationSeconds: v });
    const crawl = meter.pipeline('crawl');
    for (let i = 0; i < 5; i++) {
      const job = crawl.job(`crawl-${i}`, { queuedAt: Date.now() - 40_000, initiatedAt: Date.now() - 45_000 });
      job.stageObserved('embedding', 0.2 * (i + 1));
      job.stageObserved('embedding', 3, 'failure');
      job.finish('completed', { mediaSeconds: 10 });
    }
    const at = (s: number) => new Date(Date.now() - 200_000 + s * 1000).toISOString();
    const events = [
      { type: 'scraper_run', scraper: 'spotify', outcome: 'success', duration_seconds: 12.5 },
      ...[1, 2, 3].flatMap((n) => [
        { type: 'job_queued', pipeline: 'video', job_id: `v-${n}`, at: at(0) },
        { type: 'job_started', pipeline: 'video', job_id: `v-${n}`, at: at(30) },
        { type: 'stage', pipeline: 'video', job_id: `v-${n}`, stage: 'download', duration_seconds: 4 * n },
        { type: 'stage', pipeline: 'video', job_id: `v-${n}`, stage: 'transcription', duration_seconds: 40 * n, outcome: n === 3 ? 'failure' : 'success' },
        { type: 'job_finished', pipeline: 'video', job_id: `v-${n}`, outcome: 'completed', media_seconds: 312, at: at(30 + 96), initiated_at: at(-10) },
      ]),
      { type: 'metric', name: 'upload_size_bytes', value: 4096 },
    ];
    const res = await fetch(`${sidecar.ingestUrl}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
    const udp = createSocket('udp4');
    const [host, port] = sidecar.statsdAddress!.split(':');
    await new Promise<void>((resolve, reject) => udp.send('video.stage.transcription:41200|ms', Number(port), host, (err) => (err ? reject(err) : resolve())));
    udp.close();

    // Scraped again and the rules evaluated over the new data, in both worlds.
    for (const world of ['on', 'off'] as const) {
      await until(`prometheus (${world}) to record the stage quantiles of the new data`, async () => {
        const r = finite(await query(world, 'pipeline:pipeline_stage_duration_seconds:p50_5m{pipeline="video",stage="transcription"}'));
        const probed = finite(await query(world, histogramQuantile({ ...catalog[0]!, name: 'probe_latency_seconds' }, 0.5, '1m', [])));
        return r.length > 0 && probed.length > 0 ? true : undefined;
      }, { ms: 45_000, detail: logs });
    }
  }, 150_000);

  afterAll(async () => {
    clearInterval(calls);
    api?.closeAllConnections();
    await Promise.all([new Promise((resolve) => (api === undefined ? resolve(undefined) : api.close(resolve))), proms.on?.stop(), proms.off?.stop(), server?.close(), sidecar?.close()]);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const exact = (q: number) => samples[Math.ceil(q * samples.length) - 1]!;

  it('with the feature on, Prometheus keeps the native form only: a histogram sample under the family name, no _bucket series', async () => {
    const native = await query('on', 'probe_latency_seconds');
    expect(native).toHaveLength(1);
    expect(native[0]!.histogram).toBeDefined();
    expect(Number(native[0]!.histogram![1].count)).toBe(SAMPLES);
    expect(await query('on', 'probe_latency_seconds_bucket')).toEqual([]);
    expect(await query('on', 'probe_latency_seconds_count')).toEqual([]);
    // And the sidecar's catalog histograms (ingest, StatsD) and declared native family arrived native too.
    expect((await query('on', 'pipeline_stage_duration_seconds{job="pipemeter",stage="transcription",outcome="success"}'))[0]!.histogram![1].count).toBe('3');
    expect((await query('on', 'upload_size_bytes{job="pipemeter"}'))[0]!.histogram).toBeDefined();
  });

  it('with the feature off, nothing changed: classic buckets, _count and _sum, no native sample', async () => {
    expect(await query('off', 'probe_latency_seconds')).toEqual([]);
    expect((await query('off', 'probe_latency_seconds_bucket')).length).toBe(stageSeconds.length + 1);
    expect((await query('off', 'probe_latency_seconds_count'))[0]!.value![1]).toBe(String(SAMPLES));
    expect((await query('off', 'pipeline_stage_duration_seconds_count{job="pipemeter",stage="transcription",outcome="success"}'))[0]!.value![1]).toBe('3');
  });

  it(`histogram_quantile(q, sum by (le) (rate(...))) on the native series is within ${MAX_ERROR * 100} % at p50, p95 and p99; the classic buckets are reported beside it`, async () => {
    const rows: string[] = [];
    for (const q of QUANTILES) {
      const native = Number((await query('on', `histogram_quantile(${q}, sum by (le) (rate(probe_latency_seconds[1m])))`))[0]!.value![1]);
      const classic = Number((await query('off', `histogram_quantile(${q}, sum by (le) (rate(probe_latency_seconds_bucket[1m])))`))[0]!.value![1]);
      const want = exact(q);
      const err = (x: number) => Math.abs(x - want) / want;
      rows.push(`p${q * 100}: exact ${want.toFixed(4)} s, native ${native.toFixed(4)} s (${(err(native) * 100).toFixed(2)} %), classic ${classic.toFixed(4)} s (${(err(classic) * 100).toFixed(2)} %)`);
      expect(err(native), rows.at(-1)).toBeLessThanOrEqual(MAX_ERROR);
    }
    console.log(`native-histograms: ${SAMPLES} log-normal samples, 1 ms..1 h\n  ${rows.join('\n  ')}`);
  });

  it('the shipped quantile expression answers from the native histogram with the feature on and from the buckets with it off', async () => {
    const expr = histogramQuantile({ ...catalog[0]!, name: 'probe_latency_seconds' }, 0.99, '1m', []);
    const on = Number((await query('on', expr))[0]!.value![1]);
    const off = Number((await query('off', expr))[0]!.value![1]);
    // Each query is evaluated at its own instant, so the rate's extrapolation may move the last digits.
    const close = (a: number, b: number) => expect(Math.abs(a - b) / b).toBeLessThan(1e-6);
    close(on, Number((await query('on', 'histogram_quantile(0.99, sum(rate(probe_latency_seconds[1m])))'))[0]!.value![1]));
    close(off, Number((await query('off', 'histogram_quantile(0.99, sum by (le) (rate(probe_latency_seconds_bucket[1m])))'))[0]!.value![1]));
    expect(Math.abs(on - off) / off).toBeGreaterThan(1e-3);
  });

  const histogramNames = catalog.filter((f) => f.type === 'histogram').map((f) => f.name);
  const touchesHistogram = (expr: string) => histogramNames.some((n) => new RegExp(`\\b${n}(_bucket|_count|_sum)?\\b`).test(expr));

  it.each(recordingRules(files).filter((r) => touchesHistogram(r.expr)).map((r) => [r.record, r.expr]))('recording rule %s has data in both worlds', async (record) => {
    for (const world of ['on', 'off'] as const) {
      expect(finite(await query(world, record)).length, `${world}: ${record}`).toBeGreaterThan(0);
    }
  });

  it.each(
    dashboardQueries(files)
      .filter((q) => touchesHistogram(q.expr))
      .map((q) => [`${q.dashboard} / ${q.panel}`, q.expr]),
  )('dashboard query %s has data in both worlds', async (_where, expr) => {
    for (const world of ['on', 'off'] as const) {
      const rs = await query(world, substituteGrafana(expr));
      expect(rs.filter((r) => r.histogram !== undefined || Number.isFinite(Number(r.value![1]))).length, `${world}: ${substituteGrafana(expr)}`).toBeGreaterThan(0);
    }
  });

  it('exemplars ride on the native histogram too: the job ids of the stage observations', async () => {
    const now = Date.now() / 1000;
    const res = await fetch(`${urls.on}/api/v1/query_exemplars?query=${encodeURIComponent('pipeline_stage_duration_seconds{job="pipemeter-workers"}')}&start=${now - 600}&end=${now + 60}`);
    const body = (await res.json()) as { data: { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string> }[] }[] };
    const ids = body.data.flatMap((s) => s.exemplars.map((e) => e.labels.job_id));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => /^crawl-\d$/.test(id!))).toBe(true);
    expect(body.data.every((s) => s.seriesLabels.__name__ === 'pipeline_stage_duration_seconds')).toBe(true);
  });
});
