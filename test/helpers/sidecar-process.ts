/**
 * `pipemeter serve` as its own process (its memory and descriptors are its own, not the test worker's), and a real
 * Prometheus scraping it: for the tests that flood a sidecar and measure what it holds.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrometheusApi } from '../e2e/helpers/prometheus-api.js';
import { freePort, startTool, type Tool } from '../e2e/helpers/process.js';
import { until } from '../e2e/helpers/poll.js';
import { builtCli } from './tools.js';

export interface ServeProcess {
  tool: Tool;
  pid: number;
  /** `http://127.0.0.1:port/metrics`, from the start-up line. */
  metricsUrl: string;
  /** `http://127.0.0.1:port` of the ingest listener (the API is under /v1). */
  ingestUrl: string;
  /** The StatsD socket's port, when statsd.enabled. */
  statsdPort?: number;
  /** The process's resident memory now and at its peak (VmRSS, VmHWM), in MiB. */
  memory(): { rssMiB: number; peakMiB: number };
  /** Open file descriptors of the process. */
  fds(): number;
  stop(): Promise<void>;
}

/**
 * startServe writes the YAML to `dir/pipemeter.yaml` and runs the built CLI on it; resolves once both listeners are up
 * and the state file (if any) is read. With `whileLoading`, it resolves as soon as the listeners are up: the ingest
 * URL is then unknown (empty) until the start-up line.
 */
export async function startServe(dir: string, yaml: string, opts: { whileLoading?: boolean } = {}): Promise<ServeProcess> {
  const file = join(dir, 'pipemeter.yaml');
  writeFileSync(file, yaml);
  const tool = startTool('pipemeter serve', process.execPath, [builtCli(), 'serve', '--config', file]);
  const started = /metrics on (\S+)\/metrics, ingest on (\S+)\/v1\/events/;
  const loading = /\/metrics answers on (\S+)\/metrics meanwhile/;
  const line = await until('pipemeter serve to print its listeners', () => started.exec(tool.log()) ?? (opts.whileLoading === true ? loading.exec(tool.log()) : null) ?? undefined, {
    ms: 30_000,
    everyMs: 50,
    detail: tool.log,
  });
  const pid = tool.child.pid!;
  const status = () => readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status())?.[1] ?? NaN);
  return {
    tool,
    pid,
    metricsUrl: `${line[1]!.replace('0.0.0.0', '127.0.0.1')}/metrics`,
    ingestUrl: (line[2] ?? '').replace('0.0.0.0', '127.0.0.1'),
    statsdPort: Number(/statsd on \S+:(\d+)\/udp/.exec(tool.log())?.[1] ?? NaN) || undefined,
    memory: () => ({ rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 }),
    fds: () => readdirSync(`/proc/${pid}/fd`).length,
    stop: () => tool.stop(20_000),
  };
}

export interface PrometheusProcess {
  tool: Tool;
  api: PrometheusApi;
  stop(): Promise<void>;
}

/** startPrometheus runs a Prometheus that scrapes `targets` (host:port) every second, job "pipemeter". */
export async function startPrometheus(dir: string, targets: readonly string[]): Promise<PrometheusProcess> {
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    `global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: pipemeter\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`,
  );
  const tool = startTool('prometheus', 'prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const api = new PrometheusApi(`http://127.0.0.1:${port}`);
  await until('prometheus to be ready', async () => ((await fetch(`${api.base}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok ? true : undefined), { ms: 30_000, detail: tool.log });
  return { tool, api, stop: () => tool.stop() };
}

/** scraped waits until Prometheus has scraped job "pipemeter" `n` times (it applies new targets about 5 s after it starts). */
export async function scraped(api: PrometheusApi, n: number): Promise<void> {
  await until(`Prometheus to scrape the sidecar ${n} times`, async () => (Number((await api.query('sum(count_over_time(up{job="pipemeter"}[5m]))'))[0]?.value[1] ?? 0) >= n ? true : undefined), {
    ms: 60_000,
    everyMs: 500,
  });
}

/**
 * scrapeHealth asks Prometheus how its scrapes of job "pipemeter" went over the last `seconds`: how many were made
 * (samples of `up`), how many failed (`up` 0), and the slowest (`scrape_duration_seconds`).
 */
export async function scrapeHealth(api: PrometheusApi, seconds: number): Promise<{ scrapes: number; failed: number; slowestSeconds: number }> {
  const one = async (expr: string) => Number((await api.query(expr))[0]?.value[1] ?? NaN);
  const w = `${Math.ceil(seconds)}s`;
  return {
    scrapes: await one(`sum(count_over_time(up{job="pipemeter"}[${w}]))`),
    // up is 1 or 0 per scrape: the samples minus their sum are the failed scrapes.
    failed: await one(`sum(count_over_time(up{job="pipemeter"}[${w}])) - sum(sum_over_time(up{job="pipemeter"}[${w}]))`),
    slowestSeconds: await one(`max(max_over_time(scrape_duration_seconds{job="pipemeter"}[${w}]))`),
  };
}
