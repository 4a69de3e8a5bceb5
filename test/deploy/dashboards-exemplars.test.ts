/**
 * Exemplars: a real Prometheus (exemplar storage on) scrapes a real meter that records jobs with ids, and every
 * dashboard query that asks Grafana for exemplars gets job ids back from `/api/v1/query_exemplars` (the endpoint
 * Grafana calls with the panel's own expression), while every query that does not ask has none to show.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dashboards } from '../../src/deploy/grafana.js';
import { defaults } from '../../src/deploy/settings.js';
import { type MetricsServer, createMeter } from '../../src/index.js';
import { describeWithTools, freePort } from '../helpers/tools.js';

interface ExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

/** Every query that says whether it wants exemplars (each quantile query, the RTF heatmap), with where it is. */
const flagged = dashboards(defaults).flatMap(({ dashboard }) =>
  ((dashboard.panels ?? []) as { title?: string; targets?: { expr: string; exemplar?: boolean }[] }[]).flatMap((p) =>
    (p.targets ?? []).filter((t) => t.exemplar !== undefined).map((t) => ({ where: `${dashboard.uid} / ${p.title}`, expr: t.expr, exemplar: t.exemplar! })),
  ),
);

/** Grafana's variables as it would fill them here: every job, scraper and pipeline, a rate interval holding data at 1 s scrapes. */
const substitute = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replace(/\$(job|scraper|pipeline)\b/g, '.*');

describeWithTools(['prometheus'], 'dashboard exemplars against a real Prometheus scraping a meter', () => {
  const meter = createMeter({ service: 'exemplars-test' });
  const scraper = meter.scraper('spotify', { itemTypes: ['track'] });
  const video = meter.pipeline('video', { stages: ['downloading', 'transcription'] });
  let metrics: MetricsServer | undefined;
  let prom: ChildProcess | undefined;
  let dir = '';
  let base = '';
  let log = '';
  let jobs = 0;
  let recorder: NodeJS.Timeout | undefined;
  // An HTTP server instrumented by meter.http(): its requests carry no id either.
  const api: Server = createServer(meter.http({ route: () => '/items/:id' }).wrap((_req, res) => res.end('ok')));
  let apiUrl = '';
  const startedAt = Math.floor(Date.now() / 1000) - 1;

  /** recordJob runs one video job with an id (stages, queue wait, RTF, e2e) and one scraper run, which has no id. */
  function recordJob(): void {
    const now = Date.now();
    const job = video.job(`job-${++jobs}`, { initiatedAt: now - 9_000, queuedAt: now - 8_000, startedAt: now - 6_000 });
    job.stageObserved('downloading', 1.5);
    job.stageObserved('transcription', 4);
    job.finish('completed', { at: now, mediaSeconds: 12 });
    void scraper.run(() => undefined);
    if (apiUrl !== '') void fetch(apiUrl).then((r) => r.text(), () => undefined);
  }

  async function exemplars(expr: string): Promise<ExemplarSeries[]> {
    const q = new URLSearchParams({ query: substitute(expr), start: String(startedAt), end: String(Math.ceil(Date.now() / 1000) + 1) });
    const r = (await (await fetch(`${base}/api/v1/query_exemplars?${q}`)).json()) as { status: string; error?: string; data?: ExemplarSeries[] };
    if (r.status !== 'success') throw new Error(`query_exemplars ${substitute(expr)}: ${r.error}`);
    return r.data ?? [];
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipemeter-exemplars-'));
    metrics = await meter.serve({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/items/1`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pipemeter\n    static_configs:\n      - targets: ['127.0.0.1:${metrics.port}']\n`,
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--enable-feature=exemplar-storage',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    recordJob();
    recorder = setInterval(recordJob, 300);
    // Ready once every query that asks for exemplars has some: a few scrapes after start.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`${base}/-/ready`).then((r) => r.ok, () => false);
      if (ready) {
        const counts = await Promise.all(flagged.filter((f) => f.exemplar).map(async (f) => (await exemplars(f.expr)).length));
        if (counts.every((n) => n > 0)) break;
      }
      if (Date.now() > deadline) throw new Error(`no exemplars for every flagged query in 30s:\n${log}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    clearInterval(recorder);
    // One more scrape, so the scraper runs recorded last are in too.
    await new Promise((r) => setTimeout(r, 1_500));
  }, 60_000);

  afterAll(async () => {
    clearInterval(recorder);
    if (prom !== undefined && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (prom.exitCode === null) prom.kill('SIGKILL');
    }
    await metrics?.close();
    api.closeAllConnections();
    api.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('the dashboards flag both kinds: quantiles over job histograms and over scraper runs', () => {
    expect(flagged.filter((f) => f.exemplar).length).toBeGreaterThan(5);
    expect(flagged.filter((f) => !f.exemplar).length).toBeGreaterThan(0);
  });

  it.each(flagged.filter((f) => f.exemplar).map((f) => [f.where, f.expr]))('%s: %s shows job ids', async (_where, expr) => {
    const series = await exemplars(expr);
    const all = series.flatMap((s) => s.exemplars);
    expect(all.length).toBeGreaterThan(0);
    // Each exemplar names a job the meter recorded; the id is never a label of the series it rides on.
    expect(all.filter((e) => !/^job-\d+$/.test(e.labels.job_id ?? ''))).toEqual([]);
    for (const s of series) {
      expect(s.seriesLabels.pipeline).toBe('video');
      expect(Object.keys(s.seriesLabels)).not.toContain('job_id');
    }
  });

  it.each(flagged.filter((f) => !f.exemplar).map((f) => [f.where, f.expr]))('%s: %s has no exemplars, and reads series that exist', async (_where, expr) => {
    expect(await exemplars(expr)).toEqual([]);
    const q = new URLSearchParams({ query: substitute(expr) });
    const r = (await (await fetch(`${base}/api/v1/query?${q}`)).json()) as { data: { result: unknown[] } };
    expect(r.data.result.length).toBeGreaterThan(0);
  });
});
