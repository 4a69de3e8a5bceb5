/** Fetches one target's /metrics as Prometheus does: its Accept header, a timeout per attempt, retries with backoff. */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { type Dispatcher, request } from 'undici';
import { VERSION } from '../meter/version.js';
import { formatDuration } from '../shared/units.js';

const gunzipAsync = promisify(gunzip);

/**
 * The Accept header Prometheus 2.x sends: OpenMetrics preferred, text 0.0.4 accepted, anything as a last resort. Not
 * protobuf, which Prometheus asks for first only with native histograms on: check reads the text formats, and a
 * pipemeter target answers them with the same series (a native histogram's classic buckets).
 */
export const SCRAPE_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

export interface FetchOptions {
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  maxBodyBytes: number;
  /** The Authorization header, when the target needs one (Basic from the URL, or Bearer from --bearer-token-file). */
  authorization?: string;
  dispatcher?: Dispatcher;
  /** Injected in tests to make backoff instant. */
  sleep?: (ms: number) => Promise<void>;
}

export type FetchResult =
  | { ok: true; status: number; contentType: string | undefined; body: string; attempts: number }
  | { ok: false; status?: number; error: string; attempts: number };

const sleepReal = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** fetchMetrics GETs a URL; connection errors, timeouts, 429 and 5xx are retried, other statuses are final. */
export async function fetchMetrics(url: string, o: FetchOptions): Promise<FetchResult> {
  const sleep = o.sleep ?? sleepReal;
  let last: FetchResult = { ok: false, error: 'not attempted', attempts: 0 };
  for (let attempt = 0; attempt <= o.retries; attempt++) {
    if (attempt > 0) await sleep(o.backoffMs * 2 ** (attempt - 1));
    last = await once(url, o, attempt + 1);
    if (last.ok) return last;
    const retryable = last.status === undefined || last.status === 429 || last.status >= 500;
    if (!retryable) return last;
  }
  return last;
}

async function once(url: string, o: FetchOptions, attempts: number): Promise<FetchResult> {
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await request(url, {
      method: 'GET',
      headers: {
        accept: SCRAPE_ACCEPT,
        'accept-encoding': 'gzip',
        'user-agent': `pipemeter-check/${VERSION}`,
        ...(o.authorization === undefined ? {} : { authorization: o.authorization }),
      },
      signal,
      dispatcher: o.dispatcher,
    });
    if (res.statusCode < 200 || res.statusCode > 299) {
      await res.body.dump();
      return { ok: false, status: res.statusCode, error: `HTTP ${res.statusCode}; Prometheus would mark this target down (up == 0)${authHint(res.statusCode, o.authorization)}`, attempts };
    }
    const tooLarge = { ok: false as const, status: res.statusCode, error: `the body is over ${o.maxBodyBytes} bytes; Prometheus's body_size_limit would refuse it too`, attempts };
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > o.maxBodyBytes) {
        res.body.destroy();
        return tooLarge;
      }
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    const gzipped = header(res.headers['content-encoding'])?.toLowerCase() === 'gzip';
    let bytes = raw;
    if (gzipped) {
      try {
        bytes = await gunzipAsync(raw, { maxOutputLength: o.maxBodyBytes });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge;
        return { ok: false, status: res.statusCode, error: `the gzip body is corrupt: ${(err as Error).message}`, attempts };
      }
    }
    return { ok: true, status: res.statusCode, contentType: header(res.headers['content-type']), body: bytes.toString('utf8'), attempts };
  } catch (err) {
    if (signal.aborted) return { ok: false, error: `no complete answer within ${formatDuration(o.timeoutMs)}`, attempts };
    return { ok: false, error: describe(err), attempts };
  }
}

/** authHint says how to send credentials when the target asks for them (401, 403). */
function authHint(status: number, authorization: string | undefined): string {
  if (status !== 401 && status !== 403) return '';
  if (authorization === undefined) return '; it wants credentials: put them in the URL (http://user:password@host/metrics) or pass --bearer-token-file FILE';
  return `; the ${authorization.split(' ')[0]} credentials sent were refused`;
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** describe names a connection error in words, e.g. "connection refused (ECONNREFUSED)". */
function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused: nothing listens on that port',
    ENOTFOUND: 'host not found',
    ECONNRESET: 'connection reset by the target',
    EHOSTUNREACH: 'host unreachable',
  };
  if (code !== undefined && words[code] !== undefined) return `${words[code]} (${code})`;
  return e.message ?? e.cause?.message ?? String(err);
}
