/** The ingest listener's express app: `POST /v1/events` and `POST /v1/webhooks/firecrawl/:pipeline`, with auth, limits and JSON errors. */
import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Meter } from '../meter/meter.js';
import type { Logger } from '../shared/errors.js';
import { type CustomInstrument, applyEvent, applyFirecrawl } from './apply.js';
import { type BodyOptions, InFlight, readBody, utf8Lines } from './body.js';
import type { BoundedSet } from './bounded-set.js';
import { type DeclaredFamily, type RejectReason, parseEvent } from './events.js';
import { dedupKeys, parseFirecrawl, verifySignature } from './firecrawl.js';
import type { JobTable } from './jobs.js';
import { type RateLimitOptions, RateLimiter } from './rate-limit.js';

/** The `source` label of the ingest self-metrics. */
export type IngestSource = 'events' | 'firecrawl';

/** A pipeline as the webhook adapter sees it: its declared stages and, when it takes Firecrawl webhooks, the secret (if any). */
export interface WebhookPipeline {
  stages: readonly string[];
  firecrawl?: { secret?: string };
}

export interface IngestContext {
  meter: Meter;
  jobs: JobTable;
  families: ReadonlyMap<string, CustomInstrument>;
  declared: ReadonlyMap<string, DeclaredFamily>;
  pipelines: ReadonlyMap<string, WebhookPipeline>;
  dedup: BoundedSet;
  now(): number;
  /** How bodies are read: size, time, and bytes held at once per address and in total. */
  body: BodyOptions;
  /** The Bearer token every ingest request must carry; undefined: none. */
  token?: string;
  /** Requests per client address (token bucket); undefined: unlimited. */
  rate?: RateLimitOptions;
  /** The rate limiter's monotonic clock, ms; default performance.now. */
  monotonic?: () => number;
  /** Called before a request's events are parsed and applied: a promise makes them wait for it (a /metrics render in progress). */
  beforeApply?: () => Promise<void> | undefined;
  logger: Logger;
}

export const eventMediaTypes = ['application/json', 'application/x-ndjson', 'application/ndjson'] as const;

export interface Rejected {
  index: number;
  code: RejectReason;
  reason: string;
}

export interface EventsResponse {
  accepted: number;
  rejected: Rejected[];
}

/** sendError answers with the JSON error shape every pipemeter HTTP error uses. */
export function sendError(res: Response, status: number, code: string, message: string, details?: unknown): void {
  res.status(status).json({ error: { code, message, ...(details === undefined ? {} : { details }) } });
}

function mediaType(req: Request): string {
  return String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
}

function sameSecret(a: string, b: string): boolean {
  // Hashing first gives equal lengths, so timingSafeEqual never throws and length does not leak.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function createIngestApp(c: IngestContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const cat = c.meter.catalog;
  const refuse = (source: IngestSource, reason: RejectReason, n = 1) => cat.ingestRejected.inc({ source, reason }, n);
  for (const source of ['events', 'firecrawl'] as const) {
    for (const outcome of ['accepted', 'rejected'] as const) cat.ingestEvents.labels({ source, outcome });
  }
  const accepted = { events: cat.ingestEvents.labels({ source: 'events', outcome: 'accepted' }), firecrawl: cat.ingestEvents.labels({ source: 'firecrawl', outcome: 'accepted' }) };
  const rejectedEvents = { events: cat.ingestEvents.labels({ source: 'events', outcome: 'rejected' }), firecrawl: cat.ingestEvents.labels({ source: 'firecrawl', outcome: 'rejected' }) };

  const source = (s: IngestSource) => (_req: Request, res: Response, next: NextFunction) => {
    res.locals.source = s;
    next();
  };

  const forgotten = cat.tableEvictions.labels({ table: 'rate_limit_clients' });
  const limiter = c.rate === undefined ? undefined : new RateLimiter(c.rate, c.monotonic, () => forgotten.inc());
  // Keyed by the socket's address, never X-Forwarded-For: a client must not choose its own bucket.
  const limit = (req: Request, res: Response, next: NextFunction) => {
    const waitMs = limiter?.take(req.socket.remoteAddress ?? '') ?? 0;
    if (waitMs === 0) return next();
    refuse(res.locals.source as IngestSource, 'rate_limited');
    res.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
    sendError(res, 429, 'E_RATE_LIMITED', `over ${c.rate!.perSecond} requests per second (burst ${c.rate!.burst}) from this address (limits.rate); batch events (NDJSON or a JSON array) or retry after the Retry-After seconds`);
  };

  const bearer = (req: Request, res: Response, next: NextFunction) => {
    if (c.token === undefined) return next();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
    if (m !== null && sameSecret(m[1]!, c.token)) return next();
    refuse(res.locals.source as IngestSource, 'unauthorized');
    res.setHeader('WWW-Authenticate', 'Bearer realm="pipemeter ingest"');
    sendError(res, 401, 'E_UNAUTHORIZED', 'missing or wrong Authorization header; send "Authorization: Bearer <token>" with the token from the file set in listeners.ingest.token_file');
  };

  const eventTypes = (req: Request, res: Response, next: NextFunction) => {
    const t = mediaType(req);
    if ((eventMediaTypes as readonly string[]).includes(t)) return next();
    refuse('events', 'unsupported_media_type');
    sendError(res, 415, 'E_MEDIA_TYPE', `Content-Type "${t || '(none)'}" is not accepted; send application/json (one event or an array) or application/x-ndjson (one event per line)`, { accepted: eventMediaTypes });
  };

  const bodyOpts = c.body;
  const inFlight = new InFlight(bodyOpts.inFlightBytes, bodyOpts.inFlightBytesPerAddress);
  /** raw reads the body within its bounds into req.body; a refusal is answered (and counted) here, the connection then closed. */
  const raw = (req: Request, res: Response, next: NextFunction) => {
    const { done, release } = readBody(req, bodyOpts, inFlight);
    // The body's bytes stay accounted until the answer is out: the handler holds them until then.
    res.once('close', release);
    void done.then((b) => {
      if (Buffer.isBuffer(b)) {
        req.body = b;
        return next();
      }
      refuse(res.locals.source as IngestSource, b.reason);
      if (b.gone === true || res.headersSent) return;
      if (b.close) res.setHeader('Connection', 'close');
      if (b.status === 429 || b.status === 503) res.setHeader('Retry-After', '1');
      sendError(res, b.status, b.code, b.message);
    });
  };
  const bodyOf = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
  /** gated holds a request whose body is read until no /metrics render is running: scrapes go first. */
  const gated = (_req: Request, _res: Response, next: NextFunction) => {
    const wait = c.beforeApply?.();
    if (wait === undefined) next();
    else void wait.then(() => next());
  };

  app.post('/v1/events', source('events'), limit, bearer, eventTypes, raw, gated, (req, res) => {
    const body = bodyOf(req);
    // Decoding replaces invalid UTF-8 with U+FFFD silently: a label would then hold text nobody sent.
    const utf8 = isUtf8(body);
    const text = utf8 ? body.toString('utf8') : '';
    const now = c.now();
    const values: { index: number; value?: unknown; error?: string; reason?: RejectReason }[] = [];
    if (mediaType(req) === 'application/json') {
      if (!utf8) {
        refuse('events', 'invalid_utf8');
        return sendError(res, 400, 'E_INVALID_UTF8', 'the body is not valid UTF-8; send JSON encoded as UTF-8');
      }
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (err) {
        refuse('events', 'invalid_json');
        return sendError(res, 400, 'E_INVALID_JSON', `the body is not JSON (${(err as Error).message}); send one event object, an array of them, or use application/x-ndjson`);
      }
      if (Array.isArray(v)) v.forEach((value, index) => values.push({ index, value }));
      else values.push({ index: 0, value: v });
    } else {
      const lines = utf8 ? text.split('\n') : utf8Lines(body);
      for (let index = 0; index < lines.length; index++) {
        const raw = lines[index];
        if (raw === undefined) {
          values.push({ index, error: `line ${index + 1} is not valid UTF-8; send each line encoded as UTF-8`, reason: 'invalid_utf8' });
          continue;
        }
        const line = raw.trim();
        if (line === '') continue;
        try {
          values.push({ index, value: JSON.parse(line) });
        } catch (err) {
          values.push({ index, error: `line ${index + 1} is not JSON (${(err as Error).message})` });
        }
      }
    }
    const out: EventsResponse = { accepted: 0, rejected: [] };
    const target = { meter: c.meter, jobs: c.jobs, families: c.families, now };
    for (const v of values) {
      const parsed = v.error !== undefined ? ({ ok: false, reason: v.reason ?? 'invalid_json', message: v.error } as const) : parseEvent(v.value, now, c.declared);
      if (parsed.ok) {
        applyEvent(parsed.value, target);
        out.accepted++;
      } else {
        out.rejected.push({ index: v.index, code: parsed.reason, reason: parsed.message });
        refuse('events', parsed.reason);
      }
    }
    accepted.events.inc(out.accepted);
    rejectedEvents.events.inc(out.rejected.length);
    if (out.accepted === 0 && out.rejected.length > 0) {
      return sendError(res, 400, 'E_EVENTS_REJECTED', `no event was accepted; first problem (index ${out.rejected[0]!.index}): ${out.rejected[0]!.reason}`, out);
    }
    res.json(out);
  });

  const webhookGate = (req: Request, res: Response, next: NextFunction) => {
    const name = String(req.params.pipeline);
    const p = c.pipelines.get(name);
    if (p?.firecrawl === undefined) {
      refuse('firecrawl', 'unknown_pipeline');
      return sendError(res, 404, 'E_UNKNOWN_PIPELINE', `pipeline "${name}" does not take Firecrawl webhooks; declare it with "firecrawl:" under pipelines in the config`);
    }
    res.locals.pipeline = p;
    // A signed pipeline is authenticated by its signature; an unsigned one needs the ingest token, if there is one.
    if (p.firecrawl.secret === undefined) return bearer(req, res, next);
    // No well-formed signature header: refused before the body is even read.
    if (!signatureShape.test(String(req.headers['x-firecrawl-signature'] ?? ''))) return badSignature(res);
    next();
  };

  const badSignature = (res: Response) => {
    refuse('firecrawl', 'bad_signature');
    sendError(res, 401, 'E_SIGNATURE', 'X-Firecrawl-Signature is missing or does not match the HMAC-SHA256 of the body; check that the secret file holds the team\'s webhook secret');
  };

  app.post('/v1/webhooks/firecrawl/:pipeline', source('firecrawl'), limit, webhookGate, raw, gated, (req, res) => {
    const name = String(req.params.pipeline);
    const p = res.locals.pipeline as WebhookPipeline;
    const body = bodyOf(req);
    const secret = p.firecrawl!.secret;
    // The signature covers the raw bytes: nothing of the body is decoded or parsed before it matches.
    if (secret !== undefined && !verifySignature(body, req.get('x-firecrawl-signature'), secret)) return badSignature(res);
    if (!isUtf8(body)) {
      refuse('firecrawl', 'invalid_utf8');
      return sendError(res, 400, 'E_INVALID_UTF8', 'the webhook body is not valid UTF-8');
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      refuse('firecrawl', 'invalid_json');
      return sendError(res, 400, 'E_INVALID_JSON', `the webhook body is not JSON (${(err as Error).message})`);
    }
    const now = c.now();
    const parsed = parseFirecrawl(json, p.stages, now);
    if (!parsed.ok) {
      refuse('firecrawl', parsed.reason);
      rejectedEvents.firecrawl.inc();
      // Answer 200 to a type we do not map, so Firecrawl does not count our endpoint as failing.
      if (parsed.reason === 'unsupported_webhook_type') return res.json({ accepted: false, ignored: parsed.message });
      return sendError(res, 400, 'E_WEBHOOK_INVALID', parsed.message);
    }
    const keys = dedupKeys(name, parsed.value);
    if (keys.some((k) => c.dedup.has(k))) {
      cat.webhookDuplicates.inc({ pipeline: name });
      return res.json({ accepted: false, duplicate: true });
    }
    for (const k of keys) c.dedup.add(k);
    applyFirecrawl(name, parsed.value, { meter: c.meter, jobs: c.jobs, now });
    accepted.firecrawl.inc();
    res.json({ accepted: true });
  });

  // Wrong methods and routes are limited and counted too: a client with a typo in its URL shows on /metrics.
  app.all('/v1/events', source('events'), limit, (_req, res) => {
    refuse('events', 'unknown_route');
    res.setHeader('Allow', 'POST');
    sendError(res, 405, 'E_METHOD', 'use POST /v1/events');
  });

  app.use(source('events'), limit, (req: Request, res: Response) => {
    refuse('events', 'unknown_route');
    sendError(res, 404, 'E_NOT_FOUND', `no route ${req.method} ${req.path}; the ingest API is POST /v1/events and POST /v1/webhooks/firecrawl/{pipeline}`);
  });

  app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    c.logger(`pipemeter serve: ingest request failed: ${err.stack ?? err.message}`);
    sendError(res, 500, 'E_INTERNAL', 'the sidecar failed on this request; it is logged');
  });

  return app;
}

/** The shape verifySignature accepts; checked on the header alone, before the body is read. */
const signatureShape = /^\s*sha256=[0-9a-fA-F]{64}\s*$/;

