/** Bounded polling: every wait in the e2e suite has a deadline and says what it was waiting for. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * until calls fn every `everyMs` until it returns a value other than undefined, and throws after `ms`
 * with what it waited for, the last error and `detail()` (e.g. a process log).
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  opts: { ms?: number; everyMs?: number; detail?: () => string } = {},
): Promise<T> {
  const ms = opts.ms ?? 30_000;
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= end) break;
    await sleep(opts.everyMs ?? 250);
  }
  const why = last === undefined ? '' : `; last error: ${last instanceof Error ? last.message : String(last)}`;
  const detail = opts.detail?.() ?? '';
  throw new Error(`timed out after ${ms} ms waiting for ${what}${why}${detail ? `\n--- log ---\n${detail.slice(-4000)}` : ''}`);
}
