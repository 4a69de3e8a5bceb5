/** The public meter: the core meter plus exposition (text for any transport, an express router, a standalone server). */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from 'express';
import { MeterCore, type MeterOptions } from '../meter/meter.js';
import { serveMetrics } from './handler.js';
import { type Format, renderFamiliesSliced, renderRegistry } from './render.js';
import { ByteWriter, ChunkPool } from './writer.js';

export interface MetricsOptions {
  /** OpenMetrics 1.0 (with exemplars and `# EOF`) instead of text 0.0.4. */
  openMetrics?: boolean;
}

export interface ServeOptions {
  port?: number;
  /** Default: every interface, as exporters do, so Prometheus can scrape it. */
  host?: string;
  path?: string;
}

export interface MetricsServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export class Meter extends MeterCore {
  /** metrics renders every family (pipemeter's, then meter.registry's) as exposition text. */
  async metrics(opts: MetricsOptions = {}): Promise<string> {
    return this.render(opts.openMetrics ? 'openmetrics' : 'text');
  }

  /** The last finished scrape's chunks, reused by the next render (up to 256 MiB; see ChunkPool). */
  private readonly chunkPool = new ChunkPool(256 * 1024 * 1024);

  /**
   * renderChunks renders the exposition as UTF-8 byte chunks: what the HTTP handlers stream. Hand
   * them to releaseChunks once nothing reads them any more, so the next render reuses them.
   */
  readonly renderChunks = async (format: Format): Promise<Buffer[]> => {
    const registry = await this.registry.getMetricsAsJSON();
    const w = new ByteWriter(this.chunkPool);
    await renderFamiliesSliced(w, this.allFamilies(), format);
    w.text(renderRegistry(registry, format));
    if (format === 'openmetrics') w.text('# EOF\n');
    return w.chunks();
  };

  /** releaseChunks gives a render's chunks back for reuse; call it once, after the last read of them. */
  readonly releaseChunks = (chunks: readonly Buffer[]): void => this.chunkPool.give(chunks);

  /** render renders the exposition as text. */
  readonly render = async (format: Format): Promise<string> => {
    const chunks = await this.renderChunks(format);
    const text = Buffer.concat(chunks).toString('utf8');
    this.releaseChunks(chunks);
    return text;
  };

  /** router returns an express router answering GET /metrics (or `path`) with content negotiation. */
  router(opts: { path?: string } = {}): Router {
    const r = Router();
    r.get(opts.path ?? '/metrics', (req, res) => {
      void serveMetrics(req, res, this.renderChunks, this.releaseChunks);
    });
    return r;
  }

  /** serve starts a standalone HTTP server for /metrics; resolves once it listens. */
  async serve(opts: ServeOptions = {}): Promise<MetricsServer> {
    const path = opts.path ?? '/metrics';
    const server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.statusCode = 405;
        res.setHeader('Allow', 'GET, HEAD');
        res.end();
      } else if (url === path) {
        void serveMetrics(req, res, this.renderChunks, this.releaseChunks);
      } else if (url === '/') {
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><html><head><title>${escapeHtml(this.service)} metrics</title></head><body><h1>${escapeHtml(this.service)}</h1><p><a href="${path}">Metrics</a></p></body></html>\n`);
      } else {
        res.statusCode = 404;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(`not found; metrics are at ${path}\n`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 9464, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const host = opts.host ?? 'localhost';
    return {
      server,
      port,
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          server.closeAllConnections();
        }),
    };
  }
}

/** createMeter makes a meter that owns its registry: two meters in one process never collide. */
export function createMeter(opts: MeterOptions = {}): Meter {
  return new Meter(opts);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
