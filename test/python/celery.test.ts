/**
 * A real Celery worker (prefork, 2 children) on a real redis-server runs tasks published by another process, both
 * instrumented with pipemeter.celery.instrument() into a real `pipemeter serve`: queued (from the publisher), started,
 * finished by outcome, a retry, queue wait and stages land exactly in the sidecar, with no event out of order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../sidecar/brokers/redis-server.js';
import { PYTHON, type Serve, describeWithPython, fixtures, key, pythonEnv, runPython, sampleValues, startServe, until } from './helpers.js';

describeWithPython(['prometheus_client', 'celery', 'redis'], ['redis-server'], 'Celery: a real prefork worker on redis into a real sidecar', () => {
  let redis: RedisServer | undefined;
  let serve: Serve | undefined;
  let worker: ChildProcess | undefined;
  let workerLog = '';
  let published: Record<string, { id: string; state: string }[]> = {};
  let metrics = new Map<string, number>();
  let openMetrics = '';
  let workerExit: Promise<number | null> = Promise.resolve(null);

  const env = () => ({ REDIS_URL: `redis://127.0.0.1:${redis!.port}`, PIPEMETER_SIDECAR_URL: serve!.ingestUrl, PYTHONPATH: `${pythonEnv().PYTHONPATH}:${fixtures}` });
  const v = (name: string, labels: Record<string, string>) => metrics.get(key(name, labels));

  beforeAll(async () => {
    redis = await startRedis();
    serve = await startServe('pipelines:\n  images:\n    stages: [download, validate, upload]\n');
    worker = spawn(
      PYTHON,
      ['-m', 'celery', '-A', 'celery_app', 'worker', '--pool=prefork', '--concurrency=2', '--loglevel=WARNING', '--without-gossip', '--without-mingle', '--without-heartbeat'],
      { cwd: fixtures, env: pythonEnv(env()), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    worker.stdout!.on('data', (b: Buffer) => (workerLog = (workerLog + b.toString()).slice(-8000)));
    worker.stderr!.on('data', (b: Buffer) => (workerLog = (workerLog + b.toString()).slice(-8000)));
    workerExit = new Promise((r) => worker!.once('exit', (code) => r(code)));
    const pub = await runPython([`${fixtures}/celery_publish.py`], { env: env(), cwd: fixtures, timeoutMs: 90_000 });
    if (pub.code !== 0) throw new Error(`the publisher failed:\n${pub.stderr}\n--- worker ---\n${workerLog}`);
    published = JSON.parse(pub.stdout);
    // The worker's children send on their own clock: wait until every finish has landed, then a little longer, to see nothing more arrives.
    await until(
      'the sidecar to hold 7 finished jobs',
      async () => {
        const m = sampleValues(await (await fetch(serve!.metricsUrl)).text());
        const done = ['completed', 'failed', 'cancelled'].reduce((n, o) => n + (m.get(key('pipeline_jobs_finished_total', { pipeline: 'images', outcome: o })) ?? 0), 0);
        return done >= 7 ? m : undefined;
      },
      30_000,
      () => workerLog,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    metrics = sampleValues(await (await fetch(serve.metricsUrl)).text());
    openMetrics = await (await fetch(serve.metricsUrl, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } })).text();
  }, 120_000);

  afterAll(async () => {
    if (worker !== undefined && worker.exitCode === null) {
      worker.kill('SIGTERM');
      const t = setTimeout(() => worker?.kill('SIGKILL'), 10_000);
      await workerExit;
      clearTimeout(t);
    }
    await serve?.stop();
    await redis?.kill();
  }, 30_000);

  it('the tasks ran as published: 4 succeeded, 2 failed, the retried one succeeded', () => {
    expect(Object.fromEntries(Object.entries(published).map(([k, rs]) => [k, rs.map((r) => r.state)]))).toEqual({
      resize: ['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS'],
      broken: ['FAILURE', 'FAILURE'],
      flaky: ['SUCCESS'],
    });
  });

  it('jobs: 7 started once each (the retry continues its job), finished by outcome, none left in progress or queued', () => {
    expect(v('pipeline_jobs_started_total', { pipeline: 'images' })).toBe(7);
    expect(v('pipeline_jobs_finished_total', { pipeline: 'images', outcome: 'completed' })).toBe(5);
    expect(v('pipeline_jobs_finished_total', { pipeline: 'images', outcome: 'failed' })).toBe(2);
    expect(v('pipeline_jobs_finished_total', { pipeline: 'images', outcome: 'cancelled' })).toBe(0);
    expect(v('pipeline_jobs_in_progress', { pipeline: 'images' })).toBe(0);
    expect(v('pipeline_queue_depth', { pipeline: 'images' })).toBe(0);
    expect(v('pipeline_job_duration_seconds_count', { pipeline: 'images', outcome: 'completed' })).toBe(5);
    expect(v('pipeline_job_duration_seconds_count', { pipeline: 'images', outcome: 'failed' })).toBe(2);
    // The retried job's duration spans both attempts and the 0.2 s countdown between them.
    expect(v('pipeline_job_duration_seconds_sum', { pipeline: 'images', outcome: 'completed' })).toBeGreaterThan(4 * 0.07 + 0.2);
  });

  it('the retry is counted, and nothing arrived out of order', () => {
    expect(v('pipeline_items_total', { pipeline: 'images', outcome: 'retried' })).toBe(1);
    const outOfOrder = [...metrics].filter(([k, n]) => k.startsWith('pipemeter_jobs_out_of_order_total{') && n !== 0);
    expect(outOfOrder).toEqual([]);
  });

  it('queue wait (queued by the publisher, started in the worker) and e2e for every job', () => {
    expect(v('pipeline_queue_wait_seconds_count', { pipeline: 'images' })).toBe(7);
    expect(v('pipeline_queue_wait_seconds_sum', { pipeline: 'images' })).toBeGreaterThan(0);
    expect(v('pipeline_job_e2e_duration_seconds_count', { pipeline: 'images', outcome: 'completed' })).toBe(5);
    expect(v('pipeline_job_e2e_duration_seconds_count', { pipeline: 'images', outcome: 'failed' })).toBe(2);
  });

  it('stages by outcome, and failures attributed to the stage that raised', () => {
    const stage = (s: string, outcome: string) => v('pipeline_stage_duration_seconds_count', { pipeline: 'images', stage: s, outcome });
    expect([stage('download', 'success'), stage('download', 'failure')]).toEqual([8, 0]);
    expect([stage('validate', 'success'), stage('validate', 'failure')]).toEqual([0, 2]);
    expect([stage('upload', 'success'), stage('upload', 'failure')]).toEqual([5, 0]);
    expect(v('pipeline_stage_duration_seconds_sum', { pipeline: 'images', stage: 'download', outcome: 'success' })).toBeGreaterThan(4 * 0.05);
    expect(v('pipeline_job_failures_total', { pipeline: 'images', stage: 'validate' })).toBe(2);
  });

  it('Celery task ids are exemplars, never labels', () => {
    const ids = new Set(Object.values(published).flatMap((rs) => rs.map((r) => r.id)));
    const exemplarIds = [...openMetrics.matchAll(/ # \{job_id="([^"]+)"\}/g)].map((m) => m[1]!);
    expect(exemplarIds.length).toBeGreaterThan(0);
    expect(exemplarIds.every((id) => ids.has(id))).toBe(true);
    for (const id of ids) expect([...metrics.keys()].some((k) => k.includes(id))).toBe(false);
  });

  it('the sidecar refused nothing, and a warm shutdown of the worker exits 0', async () => {
    expect([...metrics].filter(([k, n]) => k.startsWith('pipemeter_ingest_rejected_total{') && n > 0)).toEqual([]);
    worker!.kill('SIGTERM');
    expect(await workerExit).toBe(0);
  }, 30_000);
});
