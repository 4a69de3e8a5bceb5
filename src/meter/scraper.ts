/** Scraper handles: items, schema errors and runs of one scraper, with its known series started at 0. */
import { scraperRunOutcomes } from '../catalog/index.js';
import type { CatalogInstruments } from './catalog-instruments.js';
import type { BoundCounter, BoundHistogram } from './instruments.js';
import { sourceLabel } from './source.js';

export type ScraperRunOutcome = (typeof scraperRunOutcomes)[number];

export interface ScraperOptions {
  /** Item types this scraper creates; their series start at 0 so rate() and absence alerts work at once. */
  itemTypes?: readonly string[];
  /** Sources (URLs or hosts) to start at 0 with each item type; without them the series start with an empty source. */
  sources?: readonly string[];
}

export interface RunRecord {
  outcome: ScraperRunOutcome;
  durationSeconds?: number;
  /** When the run ended: a Date or Unix milliseconds; default now. */
  at?: Date | number;
}

/**
 * A scraper's handle. The meter holds a bounded number of them; a name past the bound gets the folded handle
 * (`folded`, named `__overflow__`), which records every write into the families' overflow series, each counted as a fold.
 */
export class Scraper {
  private readonly runs: Record<ScraperRunOutcome, BoundCounter>;
  private readonly durations: Record<ScraperRunOutcome, BoundHistogram>;

  constructor(
    readonly name: string,
    private readonly c: CatalogInstruments,
    opts: ScraperOptions = {},
    readonly folded = false,
  ) {
    const scraper = name;
    this.runs = folded
      ? { success: c.scraperRuns.overflow(), failure: c.scraperRuns.overflow() }
      : { success: c.scraperRuns.labels({ scraper, outcome: 'success' }), failure: c.scraperRuns.labels({ scraper, outcome: 'failure' }) };
    this.durations = folded
      ? { success: c.scraperRunDuration.overflow(), failure: c.scraperRunDuration.overflow() }
      : { success: c.scraperRunDuration.labels({ scraper, outcome: 'success' }), failure: c.scraperRunDuration.labels({ scraper, outcome: 'failure' }) };
    if (folded) return;
    const sources = opts.sources?.map(sourceLabel) ?? [''];
    for (const item_type of opts.itemTypes ?? []) {
      for (const source of sources) c.scraperItemsCreated.zero({ scraper, item_type, source });
    }
  }

  /** itemCreated counts n items of a type; `source` may be a full URL, only its host is kept. */
  itemCreated(itemType: string, source: string, n = 1): void {
    if (this.folded) this.c.scraperItemsCreated.overflow().inc(n);
    else this.c.scraperItemsCreated.inc({ scraper: this.name, item_type: itemType, source: sourceLabel(source) }, n);
  }

  schemaError(errorType: string, itemType: string, n = 1): void {
    if (this.folded) this.c.scraperSchemaErrors.overflow().inc(n);
    else this.c.scraperSchemaErrors.inc({ scraper: this.name, item_type: itemType, error_type: errorType }, n);
  }

  /** run times fn as one scraper run: outcome failure when it throws (and rethrows), last success when it returns. */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const out = await fn();
      this.recordRun({ outcome: 'success', durationSeconds: (performance.now() - t0) / 1000 });
      return out;
    } catch (err) {
      this.recordRun({ outcome: 'failure', durationSeconds: (performance.now() - t0) / 1000 });
      throw err;
    }
  }

  /** recordRun records a run measured elsewhere (the sidecar's `scraper_run` event). */
  recordRun(r: RunRecord): void {
    const outcome = r.outcome === 'success' ? 'success' : 'failure';
    this.runs[outcome].inc();
    if (r.durationSeconds !== undefined) this.durations[outcome].observe(r.durationSeconds);
    // Set on the first success only: a 0 timestamp would read as "last success in 1970".
    if (outcome !== 'success') return;
    if (this.folded) this.c.scraperLastSuccess.overflow().set(toMillis(r.at) / 1000);
    else this.c.scraperLastSuccess.set({ scraper: this.name }, toMillis(r.at) / 1000);
  }
}

/** toMillis reads a Date or Unix milliseconds; undefined is now. */
export function toMillis(t: Date | number | undefined): number {
  if (t === undefined) return Date.now();
  return typeof t === 'number' ? t : t.getTime();
}
