/** The /metrics handler shared by the express router and the standalone server. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { negotiate } from './negotiate.js';
import { CONTENT_TYPE, type Format } from './render.js';

const gzipAsync = promisify(gzip);
/** Below this size compression costs more than it saves. */
const GZIP_MIN_BYTES = 4096;

export type RenderFn = (format: Format) => Promise<string | Buffer>;

/** serveMetrics answers one scrape: negotiated format, gzip when asked for, 500 with a reason if rendering fails. */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, render: RenderFn): Promise<void> {
  const format = negotiate(req.headers.accept);
  try {
    const body = await render(format);
    res.setHeader('Content-Type', CONTENT_TYPE[format]);
    res.setHeader('Vary', 'Accept, Accept-Encoding');
    if (body.length >= GZIP_MIN_BYTES && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      res.setHeader('Content-Encoding', 'gzip');
      res.end(await gzipAsync(body));
    } else {
      res.end(body);
    }
  } catch (err) {
    res.statusCode = 500;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`pipemeter: rendering /metrics failed: ${(err as Error).message}\n`);
  }
}
