/** Scrapes before ingest: while /metrics renders, ingest requests wait (bounded), so a flood of events cannot time a scrape out. */

/**
 * ScrapeGate: a render of /metrics gives the event loop back every few milliseconds, and each time every ingest request
 * that is ready would run, for up to tens of milliseconds each; under a flood, a scrape of many slices then took longer
 * than Prometheus's timeout. While a render runs, ingest requests wait for it (each at most `maxWaitMs`, so scrapes
 * back to back cannot hold ingest up for long); the render then runs its slices with nothing of ingest in between.
 */
export class ScrapeGate {
  private rendering = 0;
  private waiters = new Set<() => void>();

  constructor(private readonly maxWaitMs = 1000) {}

  /** during runs a render: ingest waits while it does. */
  during<T>(render: () => Promise<T>): Promise<T> {
    this.rendering++;
    return render().finally(() => {
      if (--this.rendering === 0) this.open();
    });
  }

  /** pass is undefined when no render is running (go on at once), else a promise of the end of the render or of the wait. */
  pass(): Promise<void> | undefined {
    if (this.rendering === 0) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve();
      }, this.maxWaitMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  private open(): void {
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const done of waiting) done();
  }
}
