/** Helpers of the cluster tests: the fixture worker, reading samples off a scrape, timing scrapes. */
import { fileURLToPath } from 'node:url';

/** The worker fixture: a node:cluster worker or a worker thread with a worker meter (imports the built `pipemeter`). */
export const workerFixture = fileURLToPath(new URL('../fixtures/cluster/worker.mjs', import.meta.url));

/** sample reads one sample's value from text exposition (the line `series value`); undefined when it is absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1).split(' ')[0]);
}

/** scrape GETs a /metrics URL and returns its text and how long the answer took, in ms. */
export async function scrape(url: string): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`scrape of ${url}: ${res.status} ${text}`);
  return { text, ms: performance.now() - t0 };
}

/** until polls fn every 20 ms until it returns a value other than undefined, or fails after timeoutMs. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The amounts the fixture's worker i records, summed over workers `indices`. */
export function expectedTotals(indices: readonly number[]) {
  const sum = (f: (i: number) => number) => indices.reduce((n, i) => n + f(i), 0);
  return {
    shared: sum((i) => 100 * (i + 1)),
    // i + 1 jobs of 0.25 s (bucket 0.5) and one of 4 s (bucket 8) per worker.
    fast: sum((i) => i + 1),
    count: sum((i) => i + 2),
    seconds: sum((i) => 0.25 * (i + 1) + 4),
    inFlight: sum((i) => i + 1),
    highWater: Math.max(...indices.map((i) => 10 * (i + 1))),
    freeSlots: Math.min(...indices.map((i) => 10 - i)),
    items: sum((i) => i + 1),
  };
}

/** The fixture's workers' per-worker gauge value. */
export const heapOf = (i: number) => 1000 * (i + 1);

/** wait resolves after ms. */
export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * scrapesWhileBlocked sends `block()` to a worker and scrapes `url` every 100 ms until `back` settles (4.8 s at the
 * most): the answer time of each scrape, in milliseconds.
 */
export async function scrapesWhileBlocked(url: string, block: () => void, back: Promise<unknown>): Promise<number[]> {
  let done = false;
  void back.then(
    () => (done = true),
    () => (done = true),
  );
  const t0 = performance.now();
  block();
  const during: number[] = [];
  while (!done && performance.now() - t0 < 4800) {
    during.push((await scrape(url)).ms);
    await wait(100);
  }
  return during;
}
