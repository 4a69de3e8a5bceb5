/** createMeter: a meter wired to this layer's exposition (text and OpenMetrics, an HTTP handler, a standalone server). */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Meter, type MeterExposition, type MeterOptions, type MetricsHandler, type MetricsServer, type ScrapeFormat, type ServeOptions } from '../meter/meter.js';
import { serveMetrics } from './handler.js';
import { renderFamiliesProtobuf, renderRegistryProtobuf } from './protobuf.js';
import { renderFamiliesSliced, renderRegistry } from './render.js';
import { ByteWriter, ChunkPool } from './writer.js';

/** Each meter's last finished scrape's chunks, reused by its next render (up to 256 MiB; see ChunkPool). */
const pools = new WeakMap<Meter, ChunkPool>();
function poolOf(meter: Meter): ChunkPool {
  let pool = pools.get(meter);
  if (pool === undefined) pools.set(meter, (pool = new ChunkPool(256 * 1024 * 1024)));
  return pool;
}

async function renderChunks(meter: Meter, format: ScrapeFormat): Promise<Buffer[]> {
  const registry = await meter.registry.getMetricsAsJSON();
  const w = new ByteWriter(poolOf(meter));
  if (format === 'protobuf') {
    await renderFamiliesProtobuf(w, meter.allFamilies());
    renderRegistryProtobuf(w, registry);
    return w.chunks();
  }
  await renderFamiliesSliced(w, meter.allFamilies(), format);
  w.text(renderRegistry(registry, format));
  if (format === 'openmetrics') w.text('# EOF\n');
  return w.chunks();
}

/** pathOf is the request's path without its query. */
function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function handler(meter: Meter, path: string): MetricsHandler {
  // As express routes match: a trailing slash is the same path.
  const alt = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
  return (req, res, next) => {
    const p = pathOf(req.url);
    if ((req.method === 'GET' || req.method === 'HEAD') && (p === path || p === alt)) {
      void serveMetrics(req, res, meter.renderChunks, meter.releaseChunks);
    } else if (next !== undefined) {
      next();
    } else {
      res.statusCode = 404;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(`not found; metrics are at ${path}\n`);
    }
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function serve(meter: Meter, opts: ServeOptions): Promise<MetricsServer> {
  const path = opts.path ?? '/metrics';
  const server = createServer((req, res) => {
    const url = pathOf(req.url);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.statusCode = 405;
      res.setHeader('Allow', 'GET, HEAD');
      res.end();
    } else if (url === path) {
      void serveMetrics(req, res, meter.renderChunks, meter.releaseChunks);
    } else if (url === '/') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><html><head><title>${escapeHtml(meter.service)} metrics</title></head><body><h1>${escapeHtml(meter.service)}</h1><p><a href="${path}">Metrics</a></p></body></html>\n`);
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

const exposition: MeterExposition = {
  renderChunks,
  releaseChunks: (meter, chunks) => poolOf(meter).give(chunks),
  handler,
  serve,
};

/** createMeter makes a meter that owns its registry: two meters in one process never collide. */
export function createMeter(opts: MeterOptions = {}): Meter {
  return new Meter(opts, exposition);
}
