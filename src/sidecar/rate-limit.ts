/** A token bucket per client address in a capped table: requests per second with a burst, memory bounded by the client cap. */

export interface RateLimitOptions {
  /** Tokens a client regains per second. */
  perSecond: number;
  /** Tokens a client holds at most: the requests it may send at once after a quiet spell. */
  burst: number;
  /** Clients tracked at most; past it the longest-tracked one is forgotten (it comes back with a full bucket). */
  maxClients: number;
}

interface Bucket {
  tokens: number;
  /** The clock reading of the last refill, ms. */
  at: number;
}

/**
 * RateLimiter decides per request whether a client may go on. A forgotten client only regains a
 * full bucket, so the cap bounds memory at the price of at most one extra burst per eviction.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private cursor: MapIterator<string> | undefined;

  constructor(
    private readonly opts: RateLimitOptions,
    /** A monotonic clock in ms; the wall clock may jump. */
    private readonly now: () => number = () => performance.now(),
    /** Called for each client forgotten to make room, so it is counted. */
    private readonly onEvict: () => void = () => {},
  ) {}

  get clients(): number {
    return this.buckets.size;
  }

  /** take spends one token of this client: 0 when the request may go on, else the ms until a token is back. */
  take(client: string): number {
    const t = this.now();
    const { perSecond, burst } = this.opts;
    let b = this.buckets.get(client);
    if (b === undefined) {
      if (this.buckets.size >= this.opts.maxClients) {
        this.buckets.delete(this.oldest());
        this.onEvict();
      }
      b = { tokens: burst, at: t };
      this.buckets.set(client, b);
    } else if (t > b.at) {
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) * perSecond) / 1000);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / perSecond));
  }

  /** oldest returns the longest-tracked client; a live iterator skips what it already evicted (see JobTable.oldest). */
  private oldest(): string {
    let r = this.cursor?.next();
    if (r === undefined || r.done === true) {
      this.cursor = this.buckets.keys();
      r = this.cursor.next();
    }
    return r.value as string;
  }
}
