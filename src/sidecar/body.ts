/**
 * Request bodies of the ingest listener, read with bounds: the size after decoding, the bytes held at once per client
 * address and in total, and the time a body may take to arrive. Every refusal has its code, status and reason.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { type Gunzip, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { RejectReason } from './events.js';

export interface BodyOptions {
  /** Largest body, counted after decoding. */
  maxBytes: number;
  /** A body must arrive whole within this many ms from when reading starts. */
  timeoutMs: number;
  /** Body bytes held at once by all requests. */
  inFlightBytes: number;
  /** Body bytes held at once for one client address. */
  inFlightBytesPerAddress: number;
}

/** Why a body was not read: answered with this status and error code (none when the client is gone), counted under reason. */
export interface BodyRefusal {
  status: number;
  code: string;
  reason: RejectReason;
  message: string;
  /** The connection cannot carry another request: the rest of the body was never read. */
  close: boolean;
  /** The client went away: there is nobody to answer. */
  gone?: boolean;
}

/** The encodings a body may come in (what body-parser decodes): anything else is 415. */
export const contentEncodings = ['identity', 'gzip', 'x-gzip', 'deflate', 'br'] as const;

/** InFlight accounts the body bytes held at once, in total and per client address; its table holds only addresses with bytes held. */
export class InFlight {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    readonly limit: number,
    readonly perAddress: number,
  ) {}

  /** bytes held now, in total or for one address. */
  held(address?: string): number {
    return address === undefined ? this.total : (this.byAddress.get(address) ?? 0);
  }

  /** addresses with bytes held now: what bounds the table's size. */
  get addresses(): number {
    return this.byAddress.size;
  }

  /** take holds n more bytes for an address: undefined when they fit, else the bound they would cross (nothing is held then). */
  take(address: string, n: number): 'address' | 'total' | undefined {
    const mine = this.byAddress.get(address) ?? 0;
    if (mine + n > this.perAddress) return 'address';
    if (this.total + n > this.limit) return 'total';
    this.byAddress.set(address, mine + n);
    this.total += n;
    return undefined;
  }

  give(address: string, n: number): void {
    if (n === 0) return;
    const left = (this.byAddress.get(address) ?? 0) - n;
    if (left <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, left);
    this.total -= n;
  }
}

const refusal = (status: number, code: string, reason: RejectReason, message: string, close = true): BodyRefusal => ({ status, code, reason, message, close });

/**
 * readBody reads a request's body within the bounds, decoding gzip, deflate and br. The bytes it holds stay accounted in
 * `inFlight` until `release` is called (after the request is answered). It never rejects: a refusal says why.
 */
export function readBody(req: IncomingMessage, opts: BodyOptions, inFlight: InFlight): { done: Promise<Buffer | BodyRefusal>; release: () => void } {
  const address = req.socket.remoteAddress ?? '';
  let held = 0;
  const release = () => {
    inFlight.give(address, held);
    held = 0;
  };
  const done = new Promise<Buffer | BodyRefusal>((resolve) => {
    const encoding = String(req.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    if (!(contentEncodings as readonly string[]).includes(encoding)) {
      return resolve(
        refusal(415, 'E_CONTENT_ENCODING', 'unsupported_encoding', `Content-Encoding "${encoding.slice(0, 40)}" is not supported; send the body as is, or gzip, deflate or br encoded`, true),
      );
    }
    const length = Number(req.headers['content-length']);
    if (encoding === 'identity' && Number.isFinite(length) && length > opts.maxBytes) {
      return resolve(refusal(413, 'E_BODY_TOO_LARGE', 'body_too_large', `the body is over ${opts.maxBytes} bytes (limits.body_size); send smaller batches`));
    }
    let source: Readable = req;
    let decoder: Gunzip | undefined;
    if (encoding !== 'identity') {
      decoder = encoding === 'br' ? createBrotliDecompress() : encoding === 'deflate' ? createInflate() : createGunzip();
      req.pipe(decoder);
      source = decoder;
    }
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (r: Buffer | BodyRefusal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      source.off('data', onData);
      if (!Buffer.isBuffer(r)) {
        chunks.length = 0;
        release();
        if (decoder !== undefined) {
          req.unpipe(decoder);
          decoder.destroy();
        }
        // Stop reading: what is left of the body is never buffered; the answer goes out and the connection closes.
        req.pause();
      }
      resolve(r);
    };
    const timer = setTimeout(
      () => finish(refusal(408, 'E_BODY_TIMEOUT', 'body_timeout', `the body did not arrive within ${opts.timeoutMs / 1000} s (limits.body_timeout); send it at once, or smaller batches`)),
      opts.timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      if (held + chunk.length > opts.maxBytes) {
        return finish(refusal(413, 'E_BODY_TOO_LARGE', 'body_too_large', `the body is over ${opts.maxBytes} bytes (limits.body_size)${encoding === 'identity' ? '' : ' once decoded'}; send smaller batches`));
      }
      const over = inFlight.take(address, chunk.length);
      if (over === 'address') {
        return finish(
          refusal(429, 'E_IN_FLIGHT', 'in_flight_limit', `this address already has ${inFlight.perAddress} bytes of request bodies in flight (limits.in_flight_per_address); send fewer requests at once, and retry`),
        );
      }
      if (over === 'total') {
        return finish(refusal(503, 'E_IN_FLIGHT', 'in_flight_limit', `the sidecar already holds ${inFlight.limit} bytes of request bodies in flight (limits.in_flight); retry shortly`));
      }
      held += chunk.length;
      chunks.push(chunk);
    };
    source.on('data', onData);
    source.once('end', () => finish(Buffer.concat(chunks)));
    source.once('error', (err: NodeJS.ErrnoException) => {
      if (req.destroyed || err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE') return finish({ ...gone(), gone: true });
      finish(refusal(400, 'E_BAD_ENCODING', 'invalid_json', `the body is not valid ${encoding} (${err.code ?? 'decoding failed'}); send it as the Content-Encoding says`));
    });
    // The client went away before the body was whole: counted as aborted, nobody to answer.
    req.once('close', () => {
      if (!req.complete) finish({ ...gone(), gone: true });
    });
    if (source !== req) req.once('error', () => finish({ ...gone(), gone: true }));
  });
  return { done, release };
}

function gone(): BodyRefusal {
  return refusal(400, 'E_ABORTED', 'aborted', 'the client closed the connection before the body was whole');
}

/** utf8Lines splits a body (NDJSON, a StatsD datagram) on "\n" bytes (never inside a UTF-8 sequence); a line that is not UTF-8 is undefined. */
export function utf8Lines(body: Buffer): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(10, start);
    if (end < 0) end = body.length;
    const line = body.subarray(start, end);
    out.push(isUtf8(line) ? line.toString('utf8') : undefined);
    start = end + 1;
  }
  return out;
}
