/** The meter: owns its families (catalog and custom), its prom-client registry, and the scraper and pipeline handles. */
import { Registry, collectDefaultMetrics } from 'prom-client';
import {
  type FamilyDef,
  type MetricUnit,
  idLikeLabel,
  instrumentationErrorReasons,
} from '../catalog/index.js';
import { type CatalogInstruments, catalogInstruments } from './catalog-instruments.js';
import { type InstrumentationErrorReason, type Logger, PipemeterError } from './errors.js';
import { type FamilyContext, MetricFamily } from './family.js';
import { Counter, Gauge, Histogram } from './instruments.js';
import { Pipeline } from './pipeline.js';
import { Scraper, type ScraperOptions } from './scraper.js';
import { VERSION } from './version.js';

export const DEFAULT_MAX_SERIES = 10_000;

export interface MeterOptions {
  /** The service this meter instruments; shown on the landing page and in log lines. */
  service?: string;
  /** Series cap per family (default 10 000); past it new label sets fold into one overflow series. */
  maxSeries?: number;
  /** Per catalog family overrides, by family name. */
  families?: Readonly<Record<string, { buckets?: readonly number[]; maxSeries?: number }>>;
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
  buckets: readonly number[];
}

const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class MeterCore {
  readonly service: string;
  /** The prom-client registry for metrics made with prom-client directly; rendered after pipemeter's families. */
  readonly registry: Registry;
  /** The catalog families as typed instruments. */
  readonly catalog: CatalogInstruments;
  private readonly families = new Map<string, { family: MetricFamily; owner: string }>();
  private readonly maxSeries: number;
  private readonly overrides: NonNullable<MeterOptions['families']>;
  private readonly logger: Logger;
  private readonly logged = new Set<string>();
  private readonly scrapers = new Map<string, Scraper>();
  private readonly pipelines = new Map<string, Pipeline>();
  readonly ctx: FamilyContext;

  constructor(opts: MeterOptions = {}) {
    this.service = opts.service ?? 'pipemeter';
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    this.overrides = opts.families ?? {};
    this.logger = opts.logger ?? ((m) => console.warn(m));
    this.registry = new Registry();
    this.guardRegistry();
    this.ctx = {
      error: (reason) => this.error(reason),
      overflow: (name) => this.catalog.seriesOverflow.inc({ metric: name }),
    };
    this.catalog = catalogInstruments({
      counter: (def) => new Counter(this.add(def, 'the pipemeter catalog')),
      gauge: (def) => new Gauge(this.add(def, 'the pipemeter catalog')),
      histogram: (def) => new Histogram(this.add(def, 'the pipemeter catalog')),
    });
    for (const reason of instrumentationErrorReasons) this.catalog.instrumentationErrors.family.seriesFor([reason], true);
    for (const { family } of this.families.values()) this.startOverflowAtZero(family.def);
    this.catalog.buildInfo.set({ version: VERSION }, 1);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
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
    if (!o.name?.endsWith('_total')) {
      throw new PipemeterError('E_FAMILY_NAME', `counter "${o.name}": counter names end in "_total"; name it "${o.name}_total"`);
    }
    return new Counter(this.add(this.custom('counter', o), 'meter.counter()', o.maxSeries));
  }

  gauge<const L extends string = never>(o: CustomFamilyOptions<L>): Gauge<L> {
    return new Gauge(this.add(this.custom('gauge', o), 'meter.gauge()', o.maxSeries));
  }

  histogram<const L extends string = never>(o: HistogramOptions<L>): Histogram<L> {
    const b = o.buckets;
    if (!Array.isArray(b) || b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!))) {
      throw new PipemeterError('E_FAMILY_BUCKETS', `histogram "${o.name}": buckets must be finite upper bounds in increasing order, e.g. [0.1, 0.5, 1, 5]`);
    }
    return new Histogram(this.add(this.custom('histogram', o), 'meter.histogram()', o.maxSeries));
  }

  /** families lists every family in registration order: the catalog's first, then custom ones. */
  *allFamilies(): IterableIterator<MetricFamily> {
    for (const { family } of this.families.values()) yield family;
  }

  getFamily(name: string): MetricFamily | undefined {
    return this.families.get(name)?.family;
  }

  /** expireIdle drops series (of any family) that were not written for ttlMs; handles keep theirs. */
  expireIdle(ttlMs: number, nowMs = Date.now()): number {
    let n = 0;
    for (const { family } of this.families.values()) n += family.expireIdle(nowMs, ttlMs);
    return n;
  }

  private custom<L extends string>(type: FamilyDef['type'], o: CustomFamilyOptions<L> & { buckets?: readonly number[] }): FamilyDef<L> {
    const name = o.name;
    if (typeof name !== 'string' || !metricNameRe.test(name)) {
      throw new PipemeterError('E_FAMILY_NAME', `metric name "${name}" is not valid; use letters, digits and underscores, e.g. "cache_hits_total"`);
    }
    if (type !== 'counter' && name.endsWith('_total')) {
      throw new PipemeterError('E_FAMILY_NAME', `${type} "${name}": only counter names end in "_total"; drop the suffix or make it a counter`);
    }
    if (typeof o.help !== 'string' || o.help.trim() === '') {
      throw new PipemeterError('E_FAMILY_HELP', `${name}: help is empty; say in one sentence what the family counts`);
    }
    const labels = o.labels ?? [];
    const seen = new Set<string>();
    for (const l of labels) {
      if (typeof l !== 'string' || !labelNameRe.test(l) || l.startsWith('__')) {
        throw new PipemeterError('E_FAMILY_LABEL', `${name}: label name "${l}" is not valid; use letters, digits and underscores, not starting with "__"`);
      }
      if (idLikeLabel.test(l)) {
        throw new PipemeterError('E_FAMILY_LABEL', `${name}: label "${l}" looks like an id, URL or timestamp and would make the series count unbounded; attach ids as exemplars and reduce URLs to their host`);
      }
      if (type === 'histogram' && (l === 'le' || l === 'quantile')) {
        throw new PipemeterError('E_FAMILY_LABEL', `${name}: label "${l}" is reserved for histogram buckets; rename it`);
      }
      if (seen.has(l)) throw new PipemeterError('E_FAMILY_LABEL', `${name}: label "${l}" is listed twice`);
      seen.add(l);
    }
    return { name, help: o.help, type, labels, domain: 'custom', unit: o.unit, buckets: o.buckets };
  }

  private add<L extends string>(def: FamilyDef<L>, owner: string, maxSeries?: number): MetricFamily<L> {
    const prior = this.families.get(def.name);
    if (prior !== undefined) {
      throw new PipemeterError('E_FAMILY_DUPLICATE', `metric family "${def.name}" is already registered by ${prior.owner}; a second registration came from ${owner}. Use the first, or choose another name`);
    }
    if (this.registry.getSingleMetric(def.name) !== undefined || this.registry.getSingleMetric(def.name.replace(/_total$/, '')) !== undefined) {
      throw new PipemeterError('E_FAMILY_DUPLICATE', `metric family "${def.name}" is already registered in meter.registry (prom-client); a second registration came from ${owner}`);
    }
    const o = this.overrides[def.name];
    // pipemeter's own families are bounded by construction (one series per family, reason or version):
    // a small meter-wide cap must not fold them, or the overflow counter would overflow into itself.
    const cap = def.domain === 'self' ? Infinity : (o?.maxSeries ?? maxSeries ?? this.maxSeries);
    const family = new MetricFamily(def, { maxSeries: cap, buckets: o?.buckets }, this.ctx);
    // A family without labels has exactly one series: it starts at 0. A sidecar family is started by the
    // sidecar part that writes it, so a library meter never shows it.
    if (def.labels.length === 0 && def.domain !== 'sidecar') family.seriesFor([], true);
    this.families.set(def.name, { family: family as MetricFamily, owner });
    // During construction the catalog's own families are started once the overflow counter exists.
    if (this.catalog !== undefined) this.startOverflowAtZero(def);
    return family;
  }

  /** startOverflowAtZero gives a family its overflow counter series at 0, so `rate()` and the dashboards have it from the start. */
  private startOverflowAtZero(def: FamilyDef): void {
    if (def.domain !== 'self') this.catalog.seriesOverflow.family.seriesFor([def.name], true);
  }

  /** guardRegistry makes prom-client refuse a metric whose name a pipemeter family already has. */
  private guardRegistry(): void {
    const register = this.registry.registerMetric.bind(this.registry);
    this.registry.registerMetric = (metric) => {
      const name = (metric as unknown as { name: string }).name;
      const ours = this.families.get(name) ?? this.families.get(`${name}_total`);
      if (ours !== undefined) {
        throw new PipemeterError('E_FAMILY_DUPLICATE', `metric family "${name}" is already registered by ${ours.owner}; a second registration came from prom-client (meter.registry). Use the pipemeter family, or choose another name`);
      }
      register(metric);
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
