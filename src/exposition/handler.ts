/** The /metrics handler shared by the express router and the standalone server. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { negotiate } from './negotiate.js';
import type { ScrapeFormat } from '../meter/meter.js';
import { CONTENT_TYPE } from './render.js';

/** Below this size compression costs more than it saves. */
const GZIP_MIN_BYTES = 4096;

/** A renderer: the exposition as text, bytes, or a list of byte chunks (streamed as they are). */
export type RenderFn = (format: ScrapeFormat) => Promise<string | Buffer | readonly Buffer[]>;

/**
 * serveMetrics answers one scrape: negotiated format, gzip when asked for (compressed off the
 * event loop, streamed chunk by chunk), 500 with a reason if rendering fails.
 */
export async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  render: RenderFn,
  /** Takes the chunks back once the response has finished with them (Meter.releaseChunks). */
  release?: (chunks: readonly Buffer[]) => void,
): Promise<void> {
  const format = negotiate(req.headers.accept);
  let chunks: readonly Buffer[];
  try {
    const body = await render(format);
    chunks = typeof body === 'string' ? [Buffer.from(body)] : Buffer.isBuffer(body) ? [body] : (body as readonly Buffer[]);
  } catch (err) {
    res.statusCode = 500;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`pipemeter: rendering /metrics failed: ${(err as Error).message}\n`);
    return;
  }
  const size = chunks.reduce((n, c) => n + c.length, 0);
  res.setHeader('Content-Type', CONTENT_TYPE[format]);
  res.setHeader('Vary', 'Accept, Accept-Encoding');
  const gzip = size >= GZIP_MIN_BYTES && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  else res.setHeader('Content-Length', size);
  if (req.method === 'HEAD') {
    res.end();
    release?.(chunks);
    return;
  }
  try {
    if (gzip) await pipeline(Readable.from(chunks), createGzip(), res);
    else await pipeline(Readable.from(chunks), res);
    // Finished: every write has completed, nothing holds the chunks any more.
    release?.(chunks);
  } catch {
    // The scraper went away mid-response; pipeline has already destroyed the response. The chunks are
    // not reused: a cancelled write may still reference them.
  }
}
