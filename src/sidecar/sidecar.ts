/** createSidecar: the sidecar as two express apps and its timers (probes, sweeps, snapshots), built from a config and explicit dependencies. */
import type { RequestListener } from 'node:http';
import express from 'express';
import { createMeter } from '../exposition/create-meter.js';
import type { Meter } from '../meter/meter.js';
import { serveMetrics } from '../exposition/handler.js';
import { connectionRefusals } from '../catalog/index.js';
import { type Logger, PipemeterError } from '../shared/errors.js';
import { VERSION } from '../meter/version.js';
import type { CustomInstrument } from './apply.js';
import { BoundedSet } from './bounded-set.js';
import type { SidecarConfig } from './config.js';
import type { DeclaredFamily } from './events.js';
import { type WebhookPipeline, createIngestApp } from './ingest.js';
import { JobTable } from './jobs.js';
import { BrokerPoller } from './brokers/poller.js';
import { type ProbeFetch, Prober, undiciProbe } from './probes.js';
import { ScrapeGate } from './scrape-gate.js';
import { StatsdIngest } from './statsd.js';
import { type SidecarFs, describeDrops, loadState, nodeSidecarFs, stateChunks } from './state.js';

export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export interface SidecarDeps {
  /** The meter to record into; default a new one with the config's series cap. */
  meter?: Meter;
  clock?: Clock;
  fs?: SidecarFs;
  probe?: ProbeFetch;
  logger?: Logger;
}

export interface Sidecar {
  readonly meter: Meter;
  readonly jobs: JobTable;
  /** `/metrics`, `/healthz` (`/-/healthy`), `/readyz` (`/-/ready`) and the landing page: an express app, typed as the request listener it is. */
  readonly metricsApp: RequestListener;
  /** `/v1/events` and `/v1/webhooks/firecrawl/:pipeline`. */
  readonly ingestApp: RequestListener;
  /** True once start() has loaded the state. */
  readonly ready: boolean;
  /** start loads the state file and starts the probe, sweep and snapshot timers. */
  start(): Promise<void>;
  /** stop stops the timers and writes a last snapshot. */
  stop(): Promise<void>;
  /** snapshot writes the state file now (a no-op without state.file). */
  snapshot(): Promise<void>;
  /** sweep evicts jobs past their TTL and expires idle series now. */
  sweep(): void;
  /** handleStatsdPacket ingests one StatsD datagram; undefined unless statsd.enabled (the CLI opens the UDP socket). */
  readonly handleStatsdPacket?: (buf: Buffer) => void;
  /** recordStatsdKernelDrops takes the StatsD socket's kernel drop count (cumulative); undefined unless statsd.enabled. */
  readonly recordStatsdKernelDrops?: (total: number) => void;
  /** The broker pollers, started by start() and stopped by stop(). */
  readonly brokers: readonly BrokerPoller[];
}

/** The largest secret file read: a token, a webhook secret or a password is a line, not a document. */
export const SECRET_MAX_BYTES = 4096;
/** What a Bearer token may hold (RFC 6750 b64token): anything else cannot be sent in an Authorization header as written. */
const bearerTokenRe = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * readSecret reads a secret file: a regular file of at most 4 KiB (a FIFO or a device is refused, never waited on),
 * trimmed, one line, never empty; a token must be a valid Bearer token. A file others may read is named in a warning.
 */
function readSecret(fs: SidecarFs, file: string, what: string, configFile: string, warn: Logger, kind: 'token' | 'secret' = 'secret'): string {
  let r: { text: string; mode: number };
  try {
    r = fs.readSecretFile(file, SECRET_MAX_BYTES);
  } catch (err) {
    throw new PipemeterError('E_SECRET', `${configFile}: ${what}: cannot read "${file}" (${(err as Error).message}); create it as a regular file with the secret on one line, readable only by the sidecar's user`, { cause: err });
  }
  const s = r.text.trim();
  if (s === '') throw new PipemeterError('E_SECRET', `${configFile}: ${what}: "${file}" is empty; put the secret in it`);
  if (/[\r\n]/.test(s)) throw new PipemeterError('E_SECRET', `${configFile}: ${what}: "${file}" holds ${s.split(/\r?\n|\r/).length} lines; put the secret on one line`);
  if (kind === 'token' && !bearerTokenRe.test(s)) {
    throw new PipemeterError('E_SECRET', `${configFile}: ${what}: the token in "${file}" holds characters a Bearer token cannot carry (a space, a quote, a control or non-ASCII character), so every request would get 401; use letters, digits and -._~+/ only (e.g. the output of openssl rand -hex 32)`);
  }
  if ((r.mode & 0o077) !== 0) {
    warn(`pipemeter serve: warning: ${what}: "${file}" can be read by its group or by others (mode ${(r.mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it so only the sidecar's user can`);
  }
  return s;
}

/** isLoopback tells whether a listener host is reachable only from this host. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::ffff:127.0.0.1';
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function landingPage(cfg: SidecarConfig): string {
  const ingest = cfg.listeners.ingest;
  return `<!doctype html>
<html><head><title>pipemeter sidecar</title></head>
<body>
<h1>pipemeter sidecar</h1>
<p>Version ${escapeHtml(VERSION)}. Events are ingested on ${escapeHtml(ingest.host)}:${ingest.port} (POST /v1/events).</p>
<ul>
<li><a href="/metrics">Metrics</a></li>
<li><a href="/healthz">Health</a> (also <a href="/-/healthy">/-/healthy</a>)</li>
<li><a href="/readyz">Readiness</a> (also <a href="/-/ready">/-/ready</a>)</li>
</ul>
</body></html>
`;
}

/**
 * createSidecar builds the sidecar from a validated config. It reads the secret files now (a missing
 * one is an E_SECRET error) and listens on nothing: the CLI mounts the two apps on its servers.
 */
export function createSidecar(config: SidecarConfig, deps: SidecarDeps = {}): Sidecar {
  const clock = deps.clock ?? { now: () => Date.now() };
  const fs = deps.fs ?? nodeSidecarFs;
  const logger = deps.logger ?? ((m: string) => console.error(m));
  const limits = config.limits;
  const meter =
    deps.meter ?? createMeter({ service: 'pipemeter-sidecar', maxSeries: limits.maxSeries, maxScrapers: limits.maxScrapers, maxPipelines: limits.maxPipelines, logger });

  const ingestCfg = config.listeners.ingest;
  const token = ingestCfg.tokenFile === undefined ? undefined : readSecret(fs, ingestCfg.tokenFile, 'listeners.ingest.token_file', config.source, logger, 'token');
  if (token === undefined && !isLoopback(ingestCfg.host)) {
    logger(`pipemeter serve: warning: the ingest listener binds ${ingestCfg.host}, which other hosts can reach, and has no token: anyone who reaches it can write metrics; set listeners.ingest.token_file, or bind it to 127.0.0.1`);
  }
  const pipelines = new Map<string, WebhookPipeline>();
  for (const p of config.pipelines) {
    const secretFile = p.firecrawl?.secretFile;
    pipelines.set(p.name, {
      stages: p.stages,
      firecrawl: p.firecrawl === undefined ? undefined : { secret: secretFile === undefined ? undefined : readSecret(fs, secretFile, `pipelines.${p.name}.firecrawl.secret_file`, config.source, logger) },
    });
  }

  const jobs = new JobTable(meter, { capacity: limits.jobs, ttlMs: limits.jobTtlMs, finishedMemory: Math.min(limits.jobs, 100_000) });
  for (const s of config.scrapers) meter.scraper(s.name, { itemTypes: s.itemTypes, sources: s.sources.length > 0 ? s.sources : undefined });
  for (const p of config.pipelines) {
    meter.pipeline(p.name, { stages: p.stages });
    jobs.declare(p.name);
    meter.catalog.webhookDuplicates.labels({ pipeline: p.name });
    for (const reason of ['ttl', 'capacity'] as const) meter.catalog.jobsEvicted.labels({ pipeline: p.name, reason });
  }
  const families = new Map<string, CustomInstrument>();
  const declared = new Map<string, DeclaredFamily>();
  for (const f of config.families) {
    const base = { name: f.name, help: f.help, labels: f.labels };
    const fam: CustomInstrument =
      f.type === 'counter'
        ? { type: 'counter', labels: f.labels, instrument: meter.counter(base) }
        : f.type === 'gauge'
          ? { type: 'gauge', labels: f.labels, instrument: meter.gauge(base) }
          : { type: 'histogram', labels: f.labels, instrument: meter.histogram({ ...base, buckets: f.buckets ?? [], native: f.native }) };
    families.set(f.name, fam);
    declared.set(f.name, { type: f.type, labels: f.labels });
  }
  const dedupForgotten = meter.catalog.tableEvictions.labels({ table: 'webhook_dedup' });
  const dedup = new BoundedSet(limits.dedupKeys, () => dedupForgotten.inc());
  for (const table of ['rate_limit_clients', 'finished_jobs'] as const) meter.catalog.tableEvictions.labels({ table });
  for (const listener of ['metrics', 'ingest'] as const) {
    for (const reason of connectionRefusals) meter.catalog.connectionsRefused.labels({ listener, reason });
  }
  const prober = new Prober(config.probes, meter, deps.probe ?? undiciProbe, logger);
  const statsd = config.statsd.enabled ? new StatsdIngest(config.statsd, meter, logger) : undefined;
  const brokers = config.brokers.map(
    (b) =>
      new BrokerPoller(b, {
        meter,
        logger,
        now: () => clock.now(),
        password: b.passwordFile === undefined ? undefined : readSecret(fs, b.passwordFile, `brokers.${b.name}.password_file`, config.source, logger),
      }),
  );

  let ready = false;
  const timers: NodeJS.Timeout[] = [];
  let writing: Promise<void> = Promise.resolve();
  /** Whether the state file was read (or found missing or unusable): before that, a snapshot would overwrite what is not read yet. */
  let stateRead = false;
  let loading: AbortController | undefined;

  const metricsApp = express();
  metricsApp.disable('x-powered-by');
  const gate = new ScrapeGate();
  const render = (format: Parameters<typeof meter.renderChunks>[0]) => gate.during(() => meter.renderChunks(format));
  metricsApp.get('/metrics', (req, res) => {
    void serveMetrics(req, res, render, meter.releaseChunks);
  });
  // /-/healthy and /-/ready are the Prometheus ecosystem's paths (Prometheus, Alertmanager, the Pushgateway), beside the /healthz and /readyz of Kubernetes habit.
  metricsApp.get(['/healthz', '/-/healthy'], (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  metricsApp.get(['/readyz', '/-/ready'], (_req, res) => {
    if (ready) res.type('text/plain').send('ready\n');
    else res.status(503).type('text/plain').send('not ready: loading the state file\n');
  });
  metricsApp.get('/', (_req, res) => {
    res.type('html').send(landingPage(config));
  });
  metricsApp.use((req, res) => {
    res.status(404).type('text/plain').send(`not found: ${req.path}; metrics are at /metrics\n`);
  });

  const ingestApp = createIngestApp({
    meter,
    jobs,
    families,
    declared,
    pipelines,
    dedup,
    now: () => clock.now(),
    body: { maxBytes: limits.bodyBytes, timeoutMs: limits.bodyTimeoutMs, inFlightBytes: limits.inFlightBytes, inFlightBytesPerAddress: limits.inFlightBytesPerAddress },
    rate: limits.rate,
    token,
    logger,
    beforeApply: () => gate.pass(),
  });

  const snapshot = async (): Promise<void> => {
    const file = config.state.file;
    if (file === undefined || !stateRead) return;
    // The table is copied at once (a consistent snapshot); it is serialised and written in slices.
    const t = jobs.snapshot();
    const state = { savedAt: clock.now(), jobs: t.jobs, finished: t.finished, webhookKeys: dedup.values() };
    const write = () => fs.replaceStateFile(file, stateChunks(state));
    // Writes are chained: a slow interval write and the final one on stop never overlap.
    writing = writing.then(write, write);
    try {
      await writing;
    } catch (err) {
      logger(`pipemeter serve: could not write the state file: ${(err as Error).message}; the job table stays in memory`);
    }
  };

  const sweep = (): void => {
    jobs.sweep(clock.now());
    if (limits.seriesTtlMs !== undefined) meter.expireIdle(limits.seriesTtlMs, clock.now());
    const statsdTtl = config.statsd.seriesTtlMs;
    if (statsd !== undefined && statsdTtl !== undefined) for (const f of statsd.families()) f.expireIdle(clock.now(), statsdTtl);
  };

  /**
   * readStateFile restores the job table, finished keys and dedup keys record by record, as the file streams in (the
   * event loop runs between chunks, so /metrics answers while a large file loads). Bad records are dropped one by one,
   * counted and named in one warning; a file that cannot be used at all is named in one warning, and the sidecar starts empty.
   */
  const readStateFile = async (file: string): Promise<void> => {
    const ignore = (why: string) => logger(`pipemeter serve: warning: ignoring the state file: ${why}; starting with an empty job table (the file is overwritten at the next snapshot)`);
    loading = new AbortController();
    try {
      const chunks = await fs.openStateFile(file).catch((err: Error) => {
        throw new PipemeterError('E_STATE', `${file}: cannot read (${err.message})`, { cause: err });
      });
      if (chunks === undefined) return;
      const summary = await loadState(
        chunks,
        file,
        clock.now(),
        { job: (rec) => void jobs.restoreJob(rec), finished: (k) => jobs.restoreFinished(k), webhookKey: (k) => void dedup.add(k) },
        loading.signal,
      );
      if (loading.signal.aborted) return;
      for (const kind of ['jobs', 'finished', 'webhookKeys'] as const) {
        for (const [reason, n] of Object.entries(summary.dropped[kind])) meter.catalog.ingestRejected.inc({ source: 'state', reason }, n);
      }
      const dropped = describeDrops(summary);
      if (dropped !== undefined) {
        logger(`pipemeter serve: warning: the state file ${file}: ${dropped}; restored the rest (counted in pipemeter_ingest_rejected_total{source="state"})`);
      }
    } catch (err) {
      ignore((err as Error).message);
    } finally {
      jobs.publishAll();
      stateRead = !loading.signal.aborted;
      loading = undefined;
    }
  };

  const every = (ms: number, fn: () => void) => {
    const t = setInterval(fn, ms);
    t.unref();
    timers.push(t);
  };

  return {
    meter,
    jobs,
    metricsApp,
    ingestApp,
    handleStatsdPacket: statsd === undefined ? undefined : (buf: Buffer) => statsd.handlePacket(buf),
    recordStatsdKernelDrops: statsd === undefined ? undefined : (total: number) => statsd.recordKernelDrops(total),
    brokers,
    get ready() {
      return ready;
    },
    async start() {
      const file = config.state.file;
      if (file !== undefined) {
        await readStateFile(file);
        every(config.state.snapshotIntervalMs, () => void snapshot());
      }
      every(limits.sweepIntervalMs, sweep);
      prober.start();
      for (const b of brokers) b.start();
      ready = true;
    },
    async stop() {
      ready = false;
      loading?.abort();
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      prober.stop();
      for (const b of brokers) b.stop();
      await snapshot();
    },
    snapshot,
    sweep,
  };
}
