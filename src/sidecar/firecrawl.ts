/** The Firecrawl webhook adapter: signature check on the raw body, the payload's one validator, and the keys that identify a repeated delivery. */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_EVENT_VALUE, type Parsed, parseInstant } from './events.js';

/** The crawl event types the adapter maps onto the job lifecycle. */
export const firecrawlTypes = ['crawl.started', 'crawl.page', 'crawl.completed', 'crawl.failed', 'crawl.cancelled'] as const;
export type FirecrawlType = (typeof firecrawlTypes)[number];

export interface FirecrawlPage {
  scrapeId?: string;
  sourceURL?: string;
  url?: string;
  /** Seconds per declared stage, from the page metadata (`timings: {stage: s}` or `<stage>_seconds`). */
  timings: Record<string, number>;
}

export interface FirecrawlEvent {
  type: FirecrawlType;
  success: boolean;
  /** The crawl id (`id`; v0 sends `jobId`). */
  id: string;
  webhookId?: string;
  pages: FirecrawlPage[];
  error?: string;
  /** From the echoed webhook metadata: when the caller asked for the crawl, Unix ms. */
  initiatedAt?: number;
}

/**
 * verifySignature checks `X-Firecrawl-Signature: sha256=<hex>` against the HMAC-SHA256 of the raw
 * body keyed by the secret, in constant time.
 */
export function verifySignature(raw: Buffer, header: string | undefined, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (m === null) return false;
  const want = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(want, Buffer.from(m[1]!, 'hex'));
}

/** signBody computes the header value Firecrawl sends; for tests, docs and the demo. */
export function signBody(raw: string | Buffer, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function secondsOf(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A stage timing over MAX_EVENT_VALUE seconds: the delivery is refused, since two such would make the histogram's sum +Inf. */
class TimingOutOfRange extends Error {}

function page(raw: unknown, stages: readonly string[]): FirecrawlPage {
  const meta = raw !== null && typeof raw === 'object' ? (raw as { metadata?: unknown }).metadata : undefined;
  const m = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>) : {};
  const timings: Record<string, number> = {};
  const nested = m.timings !== null && typeof m.timings === 'object' ? (m.timings as Record<string, unknown>) : {};
  // Only declared stages become label values: page metadata is not ours to trust with cardinality.
  for (const s of stages) {
    const v = secondsOf(nested[s]) ?? secondsOf(m[`${s}_seconds`]);
    if (v !== undefined && v > MAX_EVENT_VALUE) throw new TimingOutOfRange(`data[].metadata: the ${s} timing ${v} is over ${MAX_EVENT_VALUE} seconds, past which the stage histogram's sum is not exact and overflows to +Inf; send seconds`);
    if (v !== undefined) timings[s] = v;
  }
  return { scrapeId: str(m.scrapeId), sourceURL: str(m.sourceURL), url: str(m.url), timings };
}

/**
 * parseFirecrawl validates a webhook body into a typed event. `stages` are the pipeline's declared
 * stages, the only timing keys read from page metadata. A type the adapter does not map
 * (batch_scrape.*, extract.*) is refused with reason `unsupported_webhook_type`. `now` (the sidecar's clock, Unix ms)
 * bounds `metadata.initiated_at` as it bounds the times of events.
 */
export function parseFirecrawl(raw: unknown, stages: readonly string[], now: number): Parsed<FirecrawlEvent> {
  const bad = (message: string): Parsed<FirecrawlEvent> => ({ ok: false, reason: 'invalid_event', message });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad('expected a JSON object {success, type, id, data, metadata}');
  const o = raw as Record<string, unknown>;
  if (typeof o.type !== 'string') return bad('type: missing; a Firecrawl webhook always has a type such as "crawl.page"');
  if (!(firecrawlTypes as readonly string[]).includes(o.type)) {
    return { ok: false, reason: 'unsupported_webhook_type', message: `type: "${o.type}" is not mapped; the adapter maps ${firecrawlTypes.join(', ')}` };
  }
  const id = str(o.id) ?? str(o.jobId);
  if (id === undefined) return bad('id: missing; the crawl id comes as "id" (v1, v2) or "jobId" (v0)');
  if (id.length > 256) return bad('id: longer than 256 characters');
  if (o.success !== undefined && typeof o.success !== 'boolean') return bad(`success: expected true or false, got ${JSON.stringify(o.success)}`);
  if (o.data !== undefined && o.data !== null && !Array.isArray(o.data)) return bad('data: expected a list of documents');
  const meta = o.metadata !== null && typeof o.metadata === 'object' ? (o.metadata as Record<string, unknown>) : {};
  let initiatedAt: number | undefined;
  if (meta.initiated_at !== undefined) {
    const r = parseInstant(meta.initiated_at, now);
    if (!r.ok) return { ok: false, reason: r.reason, message: `metadata.initiated_at: ${r.message}` };
    initiatedAt = r.ms;
  }
  let pages: FirecrawlPage[];
  try {
    pages = ((o.data as unknown[] | undefined) ?? []).map((d) => page(d, stages));
  } catch (err) {
    if (err instanceof TimingOutOfRange) return { ok: false, reason: 'value_out_of_range', message: err.message };
    throw err;
  }
  return {
    ok: true,
    value: {
      type: o.type as FirecrawlType,
      success: o.success !== false,
      id,
      webhookId: str(o.webhookId),
      pages,
      error: str(o.error),
      initiatedAt,
    },
  };
}

/** A dedup key as stored: "h:" and the SHA-256 of what identifies the delivery, base64url; 45 characters whatever was sent. */
export const dedupKeyRe = /^h:[A-Za-z0-9_-]{43}$/;

/** dedupDigest is the stored form of an identity: a webhookId or an event key of any length takes 45 characters. */
export function dedupDigest(identity: string): string {
  return 'h:' + createHash('sha256').update(identity).digest('base64url');
}

/**
 * dedupKeys names a delivery two ways. `webhookId` catches a retry that reuses it; but Firecrawl
 * sends a fresh webhookId per delivery, so the event key (pipeline, crawl id, type, and for a page
 * its outcome and scrapeId or source URL) catches a re-sent event. A page without any identity has
 * no event key: two such pages cannot be told apart, so neither is dropped. The keys are digests
 * (dedupDigest): a 900 kB webhookId costs the table what a UUID costs.
 */
export function dedupKeys(pipeline: string, e: FirecrawlEvent): string[] {
  return dedupIdentities(pipeline, e).map(dedupDigest);
}

/** dedupIdentities are the identities dedupKeys digests. */
export function dedupIdentities(pipeline: string, e: FirecrawlEvent): string[] {
  const keys: string[] = [];
  if (e.webhookId !== undefined) keys.push(`w\u0001${e.webhookId}`);
  if (e.type !== 'crawl.page') {
    keys.push(`e\u0001${pipeline}\u0001${e.id}\u0001${e.type}`);
  } else {
    const ids = e.pages.map((p) => p.scrapeId ?? p.sourceURL ?? p.url);
    if (ids.length > 0 && ids.every((x) => x !== undefined)) {
      keys.push(`e\u0001${pipeline}\u0001${e.id}\u0001page\u0001${e.success ? 'ok' : 'failed'}\u0001${ids.join('\u0002')}`);
    }
  }
  return keys;
}
