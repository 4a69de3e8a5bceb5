/** createSidecar: the sidecar as two express apps and its timers (probes, sweeps, snapshots), built from a config and explicit dependencies. */
import type { RequestListener } from 'node:http';
import express from 'express';
import { createMeter } from '../exposition/create-meter.js';
import type { Meter } from '../meter/meter.js';
import { serveMetrics } from '../exposition/handler.js';
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
import { StatsdIngest } from './statsd.js';
import { type SidecarFs, STATE_VERSION, nodeSidecarFs, readState, writeState } from './state.js';

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
  /** `/metrics`, `/healthz`, `/readyz` and the landing page: an express app, typed as the request listener it is. */
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

/** readSecret reads a secret file: trimmed, never empty. */
function readSecret(fs: SidecarFs, file: string, what: string, configFile: string): string {
  let s: string;
  try {
    s = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new PipemeterError('E_SECRET', `${configFile}: ${what}: cannot read "${file}" (${(err as Error).message}); create it with the secret on one line, readable only by the sidecar's user`, { cause: err });
  }
  if (s === '') throw new PipemeterError('E_SECRET', `${configFile}: ${what}: "${file}" is empty; put the secret in it`);
  return s;
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
<li><a href="/healthz">Health</a></li>
<li><a href="/readyz">Readiness</a></li>
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
  const meter = deps.meter ?? createMeter({ service: 'pipemeter-sidecar', maxSeries: config.limits.maxSeries, logger });
  const limits = config.limits;

  const token = config.listeners.ingest.tokenFile === undefined ? undefined : readSecret(fs, config.listeners.ingest.tokenFile, 'listeners.ingest.token_file', config.source);
  const pipelines = new Map<string, WebhookPipeline>();
  for (const p of config.pipelines) {
    const secretFile = p.firecrawl?.secretFile;
    pipelines.set(p.name, {
      stages: p.stages,
      firecrawl: p.firecrawl === undefined ? undefined : { secret: secretFile === undefined ? undefined : readSecret(fs, secretFile, `pipelines.${p.name}.firecrawl.secret_file`, config.source) },
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
  const dedup = new BoundedSet(limits.dedupKeys);
  const prober = new Prober(config.probes, meter, deps.probe ?? undiciProbe, logger);
  const statsd = config.statsd.enabled ? new StatsdIngest(config.statsd, meter, logger) : undefined;
  const brokers = config.brokers.map(
    (b) =>
      new BrokerPoller(b, {
        meter,
        logger,
        now: () => clock.now(),
        password: b.passwordFile === undefined ? undefined : readSecret(fs, b.passwordFile, `brokers.${b.name}.password_file`, config.source),
      }),
  );

  let ready = false;
  const timers: NodeJS.Timeout[] = [];
  let writing: Promise<void> = Promise.resolve();

  const metricsApp = express();
  metricsApp.disable('x-powered-by');
  metricsApp.get('/metrics', (req, res) => {
    void serveMetrics(req, res, meter.renderChunks, meter.releaseChunks);
  });
  metricsApp.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  metricsApp.get('/readyz', (_req, res) => {
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
    bodyBytes: limits.bodyBytes,
    rate: limits.rate,
    token,
    logger,
  });

  const snapshot = async (): Promise<void> => {
    const file = config.state.file;
    if (file === undefined) return;
    const t = jobs.snapshot();
    const state = { version: STATE_VERSION, savedAt: clock.now(), jobs: t.jobs, finished: t.finished, webhookKeys: dedup.values() };
    // Writes are chained: a slow interval write and the final one on stop never interleave on the temp file.
    writing = writing.then(
      () => writeState(fs, file, state),
      () => writeState(fs, file, state),
    );
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
        try {
          const state = await readState(fs, file);
          if (state !== undefined) {
            jobs.restore(state);
            for (const k of state.webhookKeys) dedup.add(k);
          }
        } catch (err) {
          logger(`pipemeter serve: warning: ignoring the state file: ${(err as Error).message}; starting with an empty job table (the file is overwritten at the next snapshot)`);
        }
        every(config.state.snapshotIntervalMs, () => void snapshot());
      }
      every(limits.sweepIntervalMs, sweep);
      prober.start();
      for (const b of brokers) b.start();
      ready = true;
    },
    async stop() {
      ready = false;
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
