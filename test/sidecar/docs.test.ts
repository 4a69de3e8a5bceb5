import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/host.js';
import { createMeter } from '../../src/index.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { sampleLines } from './fixtures.js';

/** The examples of docs/sidecar-api.md, run as written against a live sidecar; `# =>` is the exact answer. */
const doc = readFileSync('docs/sidecar-api.md', 'utf8');
const blocks = [...doc.matchAll(/```(sh|python)\n([\s\S]*?)```/g)].map((m) => {
  const code = m[2]!;
  const want = /^# => (.*)$/m.exec(code)?.[1];
  return { lang: m[1] as 'sh' | 'python', code, want, title: code.split('\n')[0]!.slice(0, 70) };
});

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-docs-'));
const secretFile = join(dir, 'firecrawl-secret');
let running: RunningSidecar;

/** runAsync runs a command without blocking the event loop: the sidecar answering it lives in this process. */
function runAsync(cmd: string, args: string[], input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}
let port = 0;

beforeAll(async () => {
  writeFileSync(secretFile, 'docs-example-secret\n');
  const config = loadConfig(readFileSync('config/examples/crawl-pipeline.yaml', 'utf8'), 'crawl-pipeline.yaml');
  config.pipelines[0]!.firecrawl = { secretFile };
  config.state.file = join(dir, 'state.json');
  config.probes = [];
  running = await startSidecar(config, { metricsPort: 0, ingestPort: 0, metricsHost: '127.0.0.1', deps: { meter: createMeter({ defaultMetrics: false }), logger: () => {} } });
  port = Number(new URL(running.ingestUrl).port);
});

afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/sidecar-api.md examples work as written', () => {
  it('has the examples this test runs: curl for events and webhooks, and Python', () => {
    expect(blocks.filter((b) => b.lang === 'sh').length).toBeGreaterThanOrEqual(6);
    expect(blocks.filter((b) => b.lang === 'python')).toHaveLength(1);
    for (const b of blocks) expect(b.want, `example without "# =>": ${b.title}`).toBeDefined();
  });

  // Run in document order: the duplicate webhook example depends on the one before it.
  it.each(blocks.map((b, i) => [i, b.lang, b.title, b] as const))('example %i (%s): %s', async (_i, lang, _title, b) => {
    const local = `127.0.0.1:${port}`;
    const code = b.code.replaceAll('localhost:9465', local).replaceAll('/run/secrets/firecrawl-webhook-secret', secretFile);
    const r = lang === 'sh' ? await runAsync('bash', ['-c', code]) : await runAsync('python3', ['-'], code);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(b.want);
  });

  it('the examples left the documented numbers in /metrics', async () => {
    const text = await running.meter.metrics();
    expect(sampleLines(text, 'pipeline_queue_wait_seconds_sum{pipeline="video"}', 'pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"}', 'pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"}', 'pipeline_realtime_factor_sum{pipeline="video"}')).toEqual([
      'pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"} 96',
      'pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"} 136',
      'pipeline_queue_wait_seconds_sum{pipeline="video"} 30',
      `pipeline_realtime_factor_sum{pipeline="video"} ${96 / 312}`,
    ]);
    expect(sampleLines(text, 'pipemeter_webhook_duplicates_total{pipeline="crawl"}')).toEqual(['pipemeter_webhook_duplicates_total{pipeline="crawl"} 1']);
  });
});
