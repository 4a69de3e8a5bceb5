/**
 * The meter: owns its families (catalog and custom), its prom-client registry, and the scraper and pipeline handles.
 * Exposition (text, an HTTP handler, a server) is a port the exposition layer fills: createMeter() wires it in.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { type FamilyDef, type MetricUnit, type NativeHistogramOptions, instrumentationErrorReasons } from '../catalog/index.js';
import { type Logger, PipemeterError } from '../shared/errors.js';
import { type CatalogInstruments, catalogInstruments } from './catalog-instruments.js';
import type { InstrumentationErrorReason } from './errors.js';
import { type FamilyContext, MetricFamily } from './family.js';
import { Counter, Gauge, Histogram } from './instruments.js';
import { Pipeline } from './pipeline.js';
import { Scraper, type ScraperOptions } from './scraper.js';
import { FamilyNames, familyDef, familyProblem } from './validate.js';
import { VERSION } from './version.js';

export const DEFAULT_MAX_SERIES = 10_000;

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
   * Per catalog family overrides, by family name. `native: false` keeps a histogram to classic buckets only; `true`
   * or options give it native buckets too (the catalog's duration histograms have them by default).
   */
  families?: Readonly<Record<string, { buckets?: readonly number[]; maxSeries?: number; native?: boolean | NativeHistogramOptions }>>;
  /** prom-client's default process collectors (CPU, memory, event loop, GC); default true. */
  defaultMetrics?: boolean;
  /** Where the one-line warnings go (an ignored call, logged once per reason); default console.warn. */
  logger?: Logger;
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
  private readonly families = new Map<string, { family: MetricFamily; owner: string }>();
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
  readonly ctx: FamilyContext;

  private readonly exposition: MeterExposition;

  /** Create meters with createMeter(), which gives them their exposition. */
  constructor(opts: MeterOptions, exposition: MeterExposition) {
    this.exposition = exposition;
    this.service = opts.service ?? 'pipemeter';
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    this.overrides = opts.families ?? {};
    this.logger = opts.logger ?? ((m) => console.warn(m));
    this.registry = new Registry();
    this.guardRegistry();
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
    if (opts.defaultMetrics ?? true) {
      this.collectingDefaults = true;
      try {
        collectDefaultMetrics({ register: this.registry });
      } finally {
        this.collectingDefaults = false;
      }
    }
  }

  /** scraper returns the handle of one scraper (the same handle for the same name). */
  scraper(name: string, opts?: ScraperOptions): Scraper {
    let s = this.scrapers.get(name);
    if (s === undefined) {
      s = new Scraper(name, this.catalog, opts);
      this.scrapers.set(name, s);
    }
    return s;
  }

  /** pipeline returns the handle of one pipeline; declared stages start at 0. */
  pipeline(name: string, opts?: { stages?: readonly string[] }): Pipeline {
    let p = this.pipelines.get(name);
    if (p === undefined) {
      p = new Pipeline(name, this.catalog, this.ctx, opts);
      this.pipelines.set(name, p);
    }
    return p;
  }

  counter<const L extends string = never>(o: CustomFamilyOptions<L>): Counter<L> {
    return new Counter(this.add(this.custom('counter', o), 'meter.counter()', o.maxSeries));
  }

  gauge<const L extends string = never>(o: CustomFamilyOptions<L>): Gauge<L> {
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
    for (const { family } of this.families.values()) n += family.expireIdle(nowMs, ttlMs);
    return n;
  }

  private custom<L extends string>(
    type: FamilyDef['type'],
    o: CustomFamilyOptions<L> & { buckets?: readonly number[]; native?: boolean | NativeHistogramOptions },
  ): FamilyDef<L> {
    const problem = familyProblem({ type, name: o?.name, help: o?.help, labels: o?.labels, buckets: o?.buckets, unit: o?.unit, native: o?.native });
    if (problem !== undefined) throw new PipemeterError(problem.code, problem.message);
    return familyDef({ ...o, type });
  }

  private add<L extends string>(def: FamilyDef<L>, owner: string, maxSeries?: number): MetricFamily<L> {
    const prior = this.families.get(def.name);
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
    const cap = def.domain === 'self' ? Infinity : (o?.maxSeries ?? maxSeries ?? this.maxSeries);
    const family = new MetricFamily(def, { maxSeries: cap, buckets: o?.buckets, native: o?.native }, this.ctx);
    // A family without labels has exactly one series: it starts at 0. A sidecar family is started by the
    // sidecar part that writes it, so a library meter never shows it.
    if (def.labels.length === 0 && def.domain !== 'sidecar') family.zero([]);
    this.families.set(def.name, { family: family as MetricFamily, owner });
    this.names.add({ name: def.name, type: def.type, owner });
    // During construction the catalog's own families are started once the overflow counter exists.
    if (this.catalog !== undefined) this.startOverflowAtZero(def);
    return family;
  }

  /** startOverflowAtZero gives a family its overflow counter series at 0, so `rate()` and the dashboards have it from the start. */
  private startOverflowAtZero(def: FamilyDef): void {
    if (def.domain !== 'self') this.catalog.seriesOverflow.zero({ metric: def.name });
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
