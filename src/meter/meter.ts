/**
 * The meter: owns its families (catalog and custom), its prom-client registry, and the scraper and pipeline handles.
 * Exposition (text, an HTTP handler, a server) is a port the exposition layer fills: createMeter() wires it in.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { type FamilyDef, type GaugeAggregate, type MetricUnit, type NativeHistogramOptions, clusterDropReasons, instrumentationErrorReasons } from '../catalog/index.js';
import { type Logger, PipemeterError } from '../shared/errors.js';
import { type CatalogInstruments, catalogInstruments, httpInstruments } from './catalog-instruments.js';
import { type ClusterOptions, type ClusterRole, PrimaryLink, WorkerLink, normalizeCluster } from './cluster-link.js';
import type { FamilyDecl } from './cluster-protocol.js';
import type { InstrumentationErrorReason } from './errors.js';
import { type FamilyContext, MetricFamily, OVERFLOW } from './family.js';
import { type HttpInstruments, type HttpMiddleware, type HttpOptions, checkHttpOptions, httpMiddleware } from './http.js';
import { Counter, Gauge, Histogram } from './instruments.js';
import { Pipeline } from './pipeline.js';
import { Scraper, type ScraperOptions } from './scraper.js';
import { FamilyNames, familyDef, familyProblem } from './validate.js';
import { VERSION } from './version.js';

export const DEFAULT_MAX_SERIES = 10_000;
/** Scraper handles, and pipeline handles, a meter holds at most by default; past it new names share one folded handle. */
export const DEFAULT_MAX_HANDLES = 1_000;

/**
 * prom-client's default collectors name three gauges `nodejs_active_{handles,requests,resources}_total` beside the
 * per-type gauges without `_total` that carry the same numbers (`sum without (type) (nodejs_active_handles)`):
 * a gauge named like a counter, which `promtool check metrics` refuses (prom-client issue #283). A meter leaves them out.
 */
export const DROPPED_DEFAULT_METRICS: ReadonlySet<string> = new Set(['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']);

/** Any family's instrument, tagged with its type. */
export type AnyInstrument =
  | { type: 'counter'; instrument: Counter }
  | { type: 'gauge'; instrument: Gauge }
  | { type: 'histogram'; instrument: Histogram };

export interface MeterOptions {
  /** The service this meter instruments; shown on the landing page and in log lines. */
  service?: string;
  /** Series cap per family (default 10 000); past it new label sets fold into one overflow series. */
  maxSeries?: number;
  /**
   * Scraper handles (distinct names given to meter.scraper()) held at most (default 1 000); past it a new name gets the
   * folded handle, which records into each family's `__overflow__` series, every write counted as a fold.
   */
  maxScrapers?: number;
  /** Pipeline handles held at most (default 1 000); past it a new name gets the folded handle, as for scrapers. */
  maxPipelines?: number;
  /**
   * Per catalog family overrides, by family name. `native: false` keeps a histogram to classic buckets only; `true`
   * or options give it native buckets too (the catalog's duration histograms have them by default).
   */
  families?: Readonly<Record<string, { buckets?: readonly number[]; maxSeries?: number; native?: boolean | NativeHistogramOptions }>>;
  /**
   * prom-client's default process collectors (CPU, memory, event loop, GC); default true, but false in a cluster
   * worker: they live in meter.registry, which stays in the worker (the primary shows its own).
   */
  defaultMetrics?: boolean;
  /** Where the one-line warnings go (an ignored call, logged once per reason); default console.warn. */
  logger?: Logger;
  /**
   * Clustered and threaded workers (node:cluster, worker_threads, forked children): `'worker'` sends this meter's
   * changes to the primary every second; `'primary'` merges every worker's into its own families, so its /metrics
   * shows the whole service and a scrape never waits on a worker. node:cluster workers join by themselves; pass
   * worker threads to `meter.addWorker()`.
   */
  cluster?: ClusterRole | ClusterOptions;
}

export interface CustomFamilyOptions<L extends string> {
  name: string;
  help: string;
  labels?: readonly L[];
  unit?: MetricUnit;
  maxSeries?: number;
}

export interface HistogramOptions<L extends string> extends CustomFamilyOptions<L> {
  /** Classic bucket upper bounds, ascending; kept with native buckets too, for text scrapes and older servers. */
  buckets: readonly number[];
  /**
   * Native (sparse, exponential) buckets beside the classic ones: `true` for client_golang's defaults (factor 1.1,
   * 160 buckets, zero threshold 2^-128) or options. Prometheus ingests them from the protobuf exposition when its
   * native-histograms feature is on; text and OpenMetrics scrapes see the classic buckets as before.
   */
  native?: boolean | NativeHistogramOptions;
}

export interface GaugeOptions<L extends string> extends CustomFamilyOptions<L> {
  /** How a cluster primary merges the workers' values: sum (default), max, min, or per-worker (adds a `worker` label). */
  aggregate?: GaugeAggregate;
}

/** The text exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0. */
export type ExpositionFormat = 'text' | 'openmetrics';

/** Every format /metrics answers in: the text formats, and protobuf (delimited MetricFamily), which carries native histograms. */
export type ScrapeFormat = ExpositionFormat | 'protobuf';

export interface MetricsOptions {
  /** OpenMetrics 1.0 (with exemplars and `# EOF`) instead of text 0.0.4. */
  openMetrics?: boolean;
}

export interface ServeOptions {
  port?: number;
  /** Default: every interface, as exporters do, so Prometheus can scrape it. */
  host?: string;
  path?: string;
}

export interface MetricsServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A connect-style handler (express, connect, or a plain `node:http` server with a `next` of its own): it answers GET
 * and HEAD of its path and hands every other request to `next`.
 */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** What the exposition layer provides a meter: rendering its families, and serving them over HTTP. */
export interface MeterExposition {
  /** The exposition as UTF-8 byte chunks; give them back with releaseChunks once nothing reads them. */
  renderChunks(meter: Meter, format: ScrapeFormat): Promise<Buffer[]>;
  releaseChunks(meter: Meter, chunks: readonly Buffer[]): void;
  handler(meter: Meter, path: string): MetricsHandler;
  serve(meter: Meter, opts: ServeOptions): Promise<MetricsServer>;
}

export class Meter {
  readonly service: string;
  /** The prom-client registry for metrics made with prom-client directly; rendered after pipemeter's families. */
  readonly registry: Registry;
  /** The catalog families as typed instruments. */
  readonly catalog: CatalogInstruments;
  /** `fromWorker`: registered by a cluster primary from a worker's declaration, until the primary declares it too. */
  private readonly families = new Map<string, { family: MetricFamily; owner: string; fromWorker?: boolean }>();
  /** True while prom-client's default collectors register: see DROPPED_DEFAULT_METRICS. */
  private collectingDefaults = false;
  /** Every family this meter exposes, its own and meter.registry's: what a new one must not collide with. */
  private readonly names = new FamilyNames();
  private readonly maxSeries: number;
  private readonly overrides: NonNullable<MeterOptions['families']>;
  private readonly logger: Logger;
  private readonly logged = new Set<string>();
  private readonly scrapers = new Map<string, Scraper>();
  private readonly pipelines = new Map<string, Pipeline>();
  /** The HTTP server families, registered by the first meter.http(). */
  private httpFamilies: HttpInstruments | undefined;
  private readonly maxScrapers: number;
  private readonly maxPipelines: number;
  private foldedScraper: Scraper | undefined;
  private foldedPipeline: Pipeline | undefined;
  readonly ctx: FamilyContext;
  /** 'primary' or 'worker' for a meter of a cluster; undefined otherwise. */
  readonly clusterRole: ClusterRole | undefined;
  private readonly link: WorkerLink | PrimaryLink | undefined;

  private readonly exposition: MeterExposition;

  /** Create meters with createMeter(), which gives them their exposition. */
  constructor(opts: MeterOptions, exposition: MeterExposition) {
    this.exposition = exposition;
    this.service = opts.service ?? 'pipemeter';
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    this.maxScrapers = opts.maxScrapers ?? DEFAULT_MAX_HANDLES;
    this.maxPipelines = opts.maxPipelines ?? DEFAULT_MAX_HANDLES;
    this.overrides = opts.families ?? {};
    this.logger = opts.logger ?? ((m) => console.warn(m));
    this.registry = new Registry();
    this.guardRegistry();
    const cluster = opts.cluster === undefined ? undefined : normalizeCluster(opts.cluster);
    this.clusterRole = cluster?.role;
    this.ctx = {
      error: (reason) => this.error(reason),
      overflow: (name) => this.catalog.seriesOverflow.inc({ metric: name }),
      nativeReduced: (name) => this.catalog.nativeResolutionReductions.inc({ metric: name }),
    };
    this.catalog = catalogInstruments({
      counter: (def) => new Counter(this.add(def, 'the pipemeter catalog')),
      gauge: (def) => new Gauge(this.add(def, 'the pipemeter catalog')),
      histogram: (def) => new Histogram(this.add(def, 'the pipemeter catalog')),
    });
    for (const reason of instrumentationErrorReasons) this.catalog.instrumentationErrors.zero({ reason });
    for (const { family } of this.families.values()) this.startOverflowAtZero(family.def);
    this.catalog.buildInfo.set({ version: VERSION }, 1);
    if (opts.defaultMetrics ?? this.clusterRole !== 'worker') {
      this.collectingDefaults = true;
      try {
        collectDefaultMetrics({ register: this.registry });
      } finally {
        this.collectingDefaults = false;
      }
    }
    this.link = cluster === undefined ? undefined : cluster.role === 'primary' ? this.startPrimary(cluster) : this.startWorker(cluster);
  }

  /**
   * scraper returns the handle of one scraper (the same handle for the same name). Past `maxScrapers` names, a new
   * name gets the folded handle (`folded`, named `__overflow__`): its writes land in the overflow series, counted.
   */
  scraper(name: string, opts?: ScraperOptions): Scraper {
    let s = this.scrapers.get(name);
    if (s !== undefined) return s;
    if (this.scrapers.size >= this.maxScrapers) return (this.foldedScraper ??= new Scraper(OVERFLOW, this.catalog, {}, true));
    s = new Scraper(name, this.catalog, opts);
    this.scrapers.set(name, s);
    return s;
  }

  /** pipeline returns the handle of one pipeline; declared stages start at 0. Past `maxPipelines` names, the folded handle. */
  pipeline(name: string, opts?: { stages?: readonly string[] }): Pipeline {
    let p = this.pipelines.get(name);
    if (p !== undefined) return p;
    if (this.pipelines.size >= this.maxPipelines) return (this.foldedPipeline ??= new Pipeline(OVERFLOW, this.catalog, this.ctx, {}, true));
    p = new Pipeline(name, this.catalog, this.ctx, opts);
    this.pipelines.set(name, p);
    return p;
  }

  /**
   * http returns a middleware that records `http_server_request_duration_seconds{method, route, status_code}` and
   * `http_server_active_requests{method}`: `app.use(meter.http())` in express, before the routes, or
   * `createServer(meter.http({ route }).wrap(handler))` for a plain `node:http` server. Bad options throw
   * E_HTTP_OPTIONS here, with the fix; recording never throws.
   */
  http(opts?: HttpOptions): HttpMiddleware {
    const o = checkHttpOptions(opts);
    let inst = this.httpFamilies;
    if (inst === undefined) {
      const made = httpInstruments(
        {
          counter: (def) => new Counter(this.add(def, 'meter.http()')),
          gauge: (def) => new Gauge(this.add(def, 'meter.http()')),
          histogram: (def) => new Histogram(this.add(def, 'meter.http()')),
        },
        o.extra,
      );
      inst = this.httpFamilies = { ...made, extra: o.extra };
    } else if (inst.extra.join(',') !== o.extra.join(',')) {
      const names = (l: readonly string[]) => (l.length === 0 ? 'none' : l.join(', '));
      throw new PipemeterError(
        'E_HTTP_OPTIONS',
        `meter.http(): static labels ${names(o.extra)} differ from the first meter.http() of this meter (${names(inst.extra)}); both write the same families, so give every call the same label names (the values may differ)`,
      );
    }
    return httpMiddleware(inst, o, this.ctx);
  }

  /** handles counts the scraper and pipeline handles this meter holds (the folded ones not included). */
  get handles(): { scrapers: number; pipelines: number } {
    return { scrapers: this.scrapers.size, pipelines: this.pipelines.size };
  }

  counter<const L extends string = never>(o: CustomFamilyOptions<L>): Counter<L> {
    return new Counter(this.add(this.custom('counter', o), 'meter.counter()', o.maxSeries));
  }

  gauge<const L extends string = never>(o: GaugeOptions<L>): Gauge<L> {
    if (o?.aggregate === 'per-worker' && this.clusterRole === 'primary') {
      throw new PipemeterError('E_FAMILY_AGGREGATE', `gauge "${o.name}": aggregate "per-worker" gives each worker's value a "worker" label in the primary, which has no value of its own to give; declare it in the workers only`);
    }
    return new Gauge(this.add(this.custom('gauge', o), 'meter.gauge()', o.maxSeries));
  }

  histogram<const L extends string = never>(o: HistogramOptions<L>): Histogram<L> {
    return new Histogram(this.add(this.custom('histogram', o), 'meter.histogram()', o.maxSeries));
  }

  /** metrics renders every family (pipemeter's, then meter.registry's) as exposition text. */
  async metrics(opts: MetricsOptions = {}): Promise<string> {
    return this.render(opts.openMetrics ? 'openmetrics' : 'text');
  }

  /**
   * renderChunks renders the exposition as byte chunks (UTF-8 text, or protobuf): what the HTTP handlers stream. Hand
   * them to releaseChunks once nothing reads them any more, so the next render reuses them.
   */
  readonly renderChunks = (format: ScrapeFormat): Promise<Buffer[]> => this.exposition.renderChunks(this, format);

  /** releaseChunks gives a render's chunks back for reuse; call it once, after the last read of them. */
  readonly releaseChunks = (chunks: readonly Buffer[]): void => this.exposition.releaseChunks(this, chunks);

  /** render renders the exposition as text. */
  readonly render = async (format: ExpositionFormat): Promise<string> => {
    const chunks = await this.renderChunks(format);
    const text = Buffer.concat(chunks).toString('utf8');
    this.releaseChunks(chunks);
    return text;
  };

  /**
   * router returns a handler for GET /metrics (or `path`) with content negotiation: `app.use(meter.router())` in
   * express, or called from a plain `node:http` server. Requests for other paths go to `next`.
   */
  router(opts: { path?: string } = {}): MetricsHandler {
    return this.exposition.handler(this, opts.path ?? '/metrics');
  }

  /** serve starts a standalone HTTP server for /metrics; resolves once it listens. */
  serve(opts: ServeOptions = {}): Promise<MetricsServer> {
    return this.exposition.serve(this, opts);
  }

  /**
   * addWorker (primary) merges one more worker's metrics: a worker_threads Worker (call it right after `new Worker()`),
   * the other end of a worker's MessagePort, or a forked ChildProcess. node:cluster workers join without it.
   */
  addWorker(worker: unknown): void {
    if (!(this.link instanceof PrimaryLink)) {
      throw new PipemeterError('E_CLUSTER_ROLE', `meter.addWorker(): meter "${this.service}" is not a cluster primary; create it with createMeter({ cluster: 'primary' })`);
    }
    this.link.add(worker);
  }

  /**
   * flush (worker) sends what changed now and resolves true once the primary has merged it: call it before a worker
   * exits on purpose (`process.exit`), or its last second of changes is lost. False when no primary merged it within
   * timeoutMs; true at once for a meter that is not a cluster worker.
   */
  flush(timeoutMs?: number): Promise<boolean> {
    return this.link instanceof WorkerLink ? this.link.flush(timeoutMs) : Promise.resolve(true);
  }

  /** close stops a cluster meter's link (a worker flushes first); the meter still records and renders. */
  async close(): Promise<void> {
    await this.link?.close();
  }

  /** families lists every family in registration order: the catalog's first, then custom ones. */
  *allFamilies(): IterableIterator<MetricFamily> {
    for (const { family } of this.families.values()) yield family;
  }

  getFamily(name: string): MetricFamily | undefined {
    return this.families.get(name)?.family;
  }

  /** instrument returns a registered family (catalog or custom) as its instrument, to record into it by label values. */
  instrument(name: string): AnyInstrument | undefined {
    const family = this.getFamily(name);
    if (family === undefined) return undefined;
    switch (family.def.type) {
      case 'counter':
        return { type: 'counter', instrument: new Counter(family) };
      case 'gauge':
        return { type: 'gauge', instrument: new Gauge(family) };
      case 'histogram':
        return { type: 'histogram', instrument: new Histogram(family) };
    }
  }

  /** expireIdle drops series (of any family) that were not written for ttlMs; handles keep theirs. */
  expireIdle(ttlMs: number, nowMs = Date.now()): number {
    let n = 0;
    // A worker keeps a counter or histogram series until its primary has what it recorded: expiry never loses a count.
    const hold = this.link instanceof WorkerLink ? this.link.holds : undefined;
    for (const { family } of this.families.values()) n += family.expireIdle(nowMs, ttlMs, hold);
    return n;
  }

  private custom<L extends string>(
    type: FamilyDef['type'],
    o: CustomFamilyOptions<L> & { buckets?: readonly number[]; aggregate?: GaugeAggregate; native?: boolean | NativeHistogramOptions },
  ): FamilyDef<L> {
    const problem = familyProblem({ type, name: o?.name, help: o?.help, labels: o?.labels, buckets: o?.buckets, unit: o?.unit, aggregate: o?.aggregate, native: o?.native });
    if (problem !== undefined) throw new PipemeterError(problem.code, problem.message);
    return familyDef({ ...o, type });
  }

  private add<L extends string>(def: FamilyDef<L>, owner: string, maxSeries?: number, fromWorker = false): MetricFamily<L> {
    const prior = this.families.get(def.name);
    // The primary declares a family its workers already sent: the same declaration makes them one family.
    if (prior?.fromWorker && this.mismatch(prior.family, def, this.overrides[def.name]?.buckets ?? def.buckets) === undefined) {
      prior.owner = owner;
      prior.fromWorker = false;
      return prior.family as MetricFamily<L>;
    }
    if (prior !== undefined) {
      throw new PipemeterError('E_FAMILY_DUPLICATE', `metric family "${def.name}" is already registered by ${prior.owner}; a second registration came from ${owner}. Use the first, or choose another name`);
    }
    const problem = this.names.collision(def);
    if (problem !== undefined) throw new PipemeterError(problem.code, `${problem.message} (registering from ${owner})`);
    const o = this.overrides[def.name];
    if (o?.native !== undefined) {
      const native = familyProblem({ ...def, native: o.native });
      if (native !== undefined) throw new PipemeterError(native.code, `families.${def.name}: ${native.message}`);
    }
    // pipemeter's own families are bounded by construction (one series per family, reason or version):
    // a small meter-wide cap must not fold them, or the overflow counter would overflow into itself.
    const own = def.domain === 'self' || def.domain === 'cluster';
    const cap = own ? Infinity : (o?.maxSeries ?? maxSeries ?? this.maxSeries);
    // Cluster batches carry classic buckets only: in a cluster meter a histogram keeps no native buckets, so a primary
    // never answers a protobuf scrape with native histograms its workers' observations never reached.
    const native = this.clusterRole === undefined ? o?.native : false;
    const family = new MetricFamily(def, { maxSeries: cap, buckets: o?.buckets, native }, this.ctx);
    // A family without labels has exactly one series: it starts at 0. A sidecar or cluster family is started by the
    // part that writes it, so a library meter never shows it.
    // A family a cluster primary learns from a worker: its series come and go with the workers that write them.
    if (def.labels.length === 0 && def.domain !== 'sidecar' && def.domain !== 'cluster' && !fromWorker) family.zero([]);
    this.families.set(def.name, { family: family as MetricFamily, owner, fromWorker });
    this.names.add({ name: def.name, type: def.type, owner });
    // During construction the catalog's own families are started once the overflow counter exists.
    if (this.catalog !== undefined) this.startOverflowAtZero(def);
    return family;
  }

  /** startOverflowAtZero gives a family its overflow counter series at 0, so `rate()` and the dashboards have it from the start. */
  private startOverflowAtZero(def: FamilyDef): void {
    if (def.domain !== 'self' && def.domain !== 'cluster') this.catalog.seriesOverflow.zero({ metric: def.name });
  }

  private startWorker(opts: ClusterOptions): WorkerLink {
    this.catalog.clusterFlushesDeferred.zero({});
    return new WorkerLink(
      {
        families: () => this.allFamilies(),
        deferred: () => this.catalog.clusterFlushesDeferred.inc({}),
        log: (key, message) => this.logOnce(`cluster:${key}`, message),
      },
      opts,
    );
  }

  private startPrimary(opts: ClusterOptions): PrimaryLink {
    const c = this.catalog;
    c.clusterWorkers.set({}, 0);
    c.clusterBatches.zero({});
    for (const reason of clusterDropReasons) c.clusterDropped.zero({ reason });
    return new PrimaryLink(
      {
        family: (decl, worker) => this.workerFamily(decl, worker),
        dropped: (reason, n) => c.clusterDropped.inc({ reason }, n),
        batch: () => c.clusterBatches.inc({}),
        workers: (n) => c.clusterWorkers.set({}, n),
        log: (key, message) => this.logOnce(`cluster:${key}`, message),
      },
      opts,
    );
  }

  /**
   * workerFamily is the primary's family for a worker's declaration: its own when they agree, a new one when it has
   * none (per-worker gauges get a `worker` label); a string says why the two cannot merge.
   */
  private workerFamily(decl: FamilyDecl, worker: string): MetricFamily | string {
    const perWorker = decl.type === 'gauge' && decl.aggregate === 'per-worker';
    const def = familyDef({ ...decl, labels: perWorker ? [...decl.labels, 'worker'] : decl.labels });
    const prior = this.families.get(decl.name);
    if (prior !== undefined) {
      const why = this.mismatch(prior.family, def, decl.buckets);
      return why === undefined ? prior.family : `worker ${worker} declares ${why}; its changes to "${decl.name}" are dropped and counted in pipemeter_cluster_changes_dropped_total{reason="family_conflict"}. Declare the family the same way in the primary and every worker`;
    }
    const problem = familyProblem({ ...decl });
    if (problem !== undefined) return `worker ${worker}: ${problem.message}`;
    try {
      return this.add(def, `worker ${worker} (cluster)`, undefined, true);
    } catch (err) {
      return `worker ${worker}: ${(err as Error).message}`;
    }
  }

  /** mismatch says how a declaration differs from a registered family in what merging needs; undefined when it does not. */
  private mismatch(f: MetricFamily, def: FamilyDef, buckets: readonly number[] | undefined): string | undefined {
    const name = `"${def.name}"`;
    if (f.def.type !== def.type) return `${name} a ${def.type}, and the primary has a ${f.def.type}`;
    if (f.labelNames.join() !== def.labels.join()) return `${name} with labels [${def.labels.join(', ')}], and the primary has [${f.labelNames.join(', ')}]`;
    if (def.type === 'histogram' && Array.from(f.upperBounds).join() !== (buckets ?? []).join()) {
      return `${name} with buckets [${(buckets ?? []).join(', ')}], and the primary has [${Array.from(f.upperBounds).join(', ')}]; histograms merge bucket by bucket, so every worker needs the same buckets`;
    }
    if (def.type === 'gauge' && (f.def.aggregate ?? 'sum') !== (def.aggregate ?? 'sum')) {
      return `${name} with aggregate ${def.aggregate ?? 'sum'}, and the primary has ${f.def.aggregate ?? 'sum'}`;
    }
    return undefined;
  }

  /** logOnce logs a line once per key; past 1 000 keys (a family name is one) nothing more is logged, all is still counted. */
  private logOnce(key: string, message: string): void {
    if (this.logged.has(key) || this.logged.size >= 1_000) return;
    this.logged.add(key);
    this.logger(`pipemeter[${this.service}]: ${message}`);
  }

  /** guardRegistry makes prom-client refuse a metric whose name a pipemeter family already has. */
  private guardRegistry(): void {
    const register = this.registry.registerMetric.bind(this.registry);
    this.registry.registerMetric = (metric) => {
      const name = (metric as unknown as { name: string }).name;
      // prom-client sets `type` after registering: the class names it (Counter, Gauge, Histogram, Summary).
      const type = metric.constructor.name.toLowerCase();
      if (this.collectingDefaults && DROPPED_DEFAULT_METRICS.has(name)) return;
      const ours = this.families.get(name) ?? this.families.get(`${name}_total`);
      if (ours !== undefined) {
        throw new PipemeterError('E_FAMILY_DUPLICATE', `metric family "${name}" is already registered by ${ours.owner}; a second registration came from prom-client (meter.registry). Use the pipemeter family, or choose another name`);
      }
      const problem = this.names.collision({ name, type });
      if (problem !== undefined) throw new PipemeterError(problem.code, `${problem.message} (registering in meter.registry, prom-client)`);
      register(metric);
      this.names.add({ name, type, owner: 'meter.registry (prom-client)' });
    };
  }

  private error(reason: InstrumentationErrorReason): void {
    this.catalog.instrumentationErrors.inc({ reason });
    if (!this.logged.has(reason)) {
      this.logged.add(reason);
      this.logger(`pipemeter[${this.service}]: ignored a recording call (${reason}); counted in pipemeter_instrumentation_errors_total, further ones are counted, not logged`);
    }
  }
}
