/** startSidecar: a sidecar listening on its metrics and ingest ports (and StatsD), in this process, until close(). */
import { type Socket, createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionRefusal } from '../catalog/index.js';
import { dirname } from 'node:path';
import type { Meter } from '../meter/meter.js';
import { PipemeterError } from '../shared/errors.js';
import { type ConnectionLimits, type SidecarConfig, configBounds, loadConfig, resolvePaths } from './config.js';
import { DEFAULT_CONFIG_YAML } from './default-config.js';
import { type Sidecar, type SidecarDeps, createSidecar } from './sidecar.js';
import { NotRegularFile, readRegularFile } from '../shared/files.js';
import { procNetAddress, udpSocketDrops } from './statsd.js';

export interface StartSidecarOptions {
  /** Override the config's listener ports; 0 picks a free one. */
  metricsPort?: number;
  ingestPort?: number;
  metricsHost?: string;
  ingestHost?: string;
  /** Override statsd.port (when statsd.enabled); 0 picks a free one. */
  statsdPort?: number;
  deps?: SidecarDeps;
  /** How long close() waits for in-flight requests before cutting connections; default 10 s. */
  drainMs?: number;
  /** How often the StatsD socket's kernel drop count is read (Linux); default 5 s. */
  kernelDropsEveryMs?: number;
  /** Called once both listeners are bound, before the state file is read (which may take a while for a large one). */
  onListening?: (listeners: { metricsUrl: string; metricsAddress: string; ingestAddress: string }) => void;
  /** The command-line flag that chose a listener's address, when one did: a listen error names it instead of the config key. */
  flags?: { metrics?: string; ingest?: string; statsd?: string };
}

export interface RunningSidecar {
  /** `http://host:port/metrics`, a URL this host can dial (loopback for a wildcard bind). */
  metricsUrl: string;
  /** `http://host:port` (the ingest API is under /v1), a URL this host can dial. */
  ingestUrl: string;
  /** `host:port` the metrics listener is bound to, as bound: `0.0.0.0:9464` accepts from every host. */
  metricsAddress: string;
  /** `host:port` the ingest listener is bound to, as bound. */
  ingestAddress: string;
  /** `host:port` of the StatsD UDP socket, when statsd.enabled. */
  statsdAddress?: string;
  meter: Meter;
  sidecar: Sidecar;
  /** close stops accepting, drains in-flight requests, stops the timers and writes the last snapshot. */
  close(): Promise<void>;
}

const DEFAULT_DRAIN_MS = 10_000;

async function listen(server: Server, port: number, host: string, what: 'metrics' | 'ingest', flag: string | undefined): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const fix = flag === undefined ? `set listeners.${what}.port` : `choose another with ${flag}`;
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new PipemeterError('E_LISTEN', `cannot listen for ${what} on ${host}:${port} (${err.code ?? err.message}); free the port or ${fix}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** bindStatsd opens the StatsD UDP socket; every datagram goes to the sidecar, which counts what it refuses. */
async function bindStatsd(sidecar: Sidecar, host: string, port: number, flag: string | undefined): Promise<Socket> {
  // A larger receive buffer rides out bursts while the event loop is busy (the kernel caps it at net.core.rmem_max).
  const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new PipemeterError('E_LISTEN', `cannot bind the StatsD socket on ${host}:${port}/udp (${err.code ?? err.message}); free the port or ${flag === undefined ? 'set statsd.port' : `choose another with ${flag}`}`, { cause: err }));
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  socket.on('message', (msg) => sidecar.handleStatsdPacket!(msg));
  // A UDP socket reports ICMP errors; none of them is a reason to stop ingesting.
  socket.on('error', () => {});
  return socket;
}

/**
 * watchKernelDrops reads the StatsD socket's drop count from /proc/net/udp (Linux) every few seconds,
 * so datagrams the kernel dropped on a full receive buffer are counted, not lost silently. Elsewhere,
 * or where the file cannot be read, it does nothing. Returns a stop function.
 */
function watchKernelDrops(sidecar: Sidecar, socket: Socket, everyMs: number): () => void {
  const record = sidecar.recordStatsdKernelDrops;
  if (record === undefined || process.platform !== 'linux') return () => {};
  const { port, family, address: bound } = socket.address();
  const file = family === 'IPv6' ? '/proc/net/udp6' : '/proc/net/udp';
  const address = family === 'IPv4' ? procNetAddress(bound) : undefined;
  const read = () =>
    readFile(file, 'utf8').then(
      (text) => {
        const drops = udpSocketDrops(text, port, address);
        if (drops !== undefined) record(drops);
      },
      () => {},
    );
  void read();
  const timer = setInterval(read, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

function closeSocket(socket: Socket | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (socket === undefined) return resolve();
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** hostPort writes a bound address as host:port, brackets around IPv6. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function urlHost(host: string): string {
  // A wildcard address is not one a client can dial; loopback reaches it from this host.
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

async function drain(server: Server, ms: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A keep-alive connection whose request finishes during the drain turns idle later: close it then.
  const idle = setInterval(() => server.closeIdleConnections(), 25);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, ms);
    timer.unref();
  });
  await Promise.race([closed, timeout]);
  clearTimeout(timer);
  clearInterval(idle);
  await closed;
}

type Listener = 'metrics' | 'ingest';

/**
 * guardConnections bounds what a listener's connections may hold: at most `max` at once and `perAddress` from one
 * client address (past either, a new connection is closed at once), a connection that sends nothing for `idleMs` is
 * closed, and a request's headers must arrive within `headersMs`. Each closed connection is counted, so a flood of idle
 * connections costs the process at most `max` descriptors per listener and the other listener keeps answering.
 */
function guardConnections(server: Server, listener: Listener, limits: ConnectionLimits, refused: (listener: Listener, reason: ConnectionRefusal) => void): void {
  const max = listener === 'metrics' ? limits.metrics : limits.ingest;
  const perAddress = listener === 'metrics' ? limits.metricsPerAddress : limits.ingestPerAddress;
  server.maxConnections = max;
  // Node closes a connection past maxConnections itself, and says so with 'drop'.
  server.on('drop', () => refused(listener, 'max_connections'));
  // Holds only addresses with a connection open: at most `max` entries.
  const open = new Map<string, number>();
  server.prependListener('connection', (socket: NetSocket) => {
    const address = socket.remoteAddress ?? '';
    const n = (open.get(address) ?? 0) + 1;
    if (n > perAddress) {
      refused(listener, 'per_address');
      socket.destroy();
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
  // A socket idle this long (nothing sent, nothing to write) is closed: Node's own request timers only start once a
  // request has begun, so a connection that never sends a byte would otherwise stay open for ever.
  server.timeout = limits.idleTimeoutMs;
  server.on('timeout', (socket: NetSocket) => {
    refused(listener, 'idle_timeout');
    socket.destroy();
  });
  server.headersTimeout = limits.headersTimeoutMs;
  // Between requests on a keep-alive connection, Node's default (5 s) applies; it is shorter than the idle timeout.
  server.keepAliveTimeout = Math.min(server.keepAliveTimeout, limits.idleTimeoutMs);
}

/** fdLimit reads the process's soft limit of open files (Linux); undefined elsewhere or when it cannot be read. */
function fdLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Descriptors kept free of both listeners: the state file, the StatsD socket, probes, brokers, and Node's own. */
const FD_RESERVE = 64;

/**
 * startSidecar runs a sidecar in this process on its two listeners; `demo` and tests use it.
 * It listens first, then loads the state (so /readyz says when the state is in), then starts the timers.
 */
export async function startSidecar(config: SidecarConfig, opts: StartSidecarOptions = {}): Promise<RunningSidecar> {
  const sidecar = createSidecar(config, opts.deps);
  const logger = opts.deps?.logger ?? ((m: string) => console.error(m));
  const limits = { ...config.limits.connections };
  const fds = fdLimit();
  if (fds !== undefined && limits.metrics + limits.ingest + FD_RESERVE > fds) {
    // The ingest cap gives way: /metrics must always have a descriptor to answer Prometheus with.
    const ingestMax = Math.max(1, fds - limits.metrics - FD_RESERVE);
    logger(`pipemeter serve: warning: limits.connections (metrics ${limits.metrics} + ingest ${limits.ingest}) leave fewer than ${FD_RESERVE} of the process's ${fds} file descriptors (ulimit -n) free; the ingest cap is lowered to ${ingestMax}. Raise ulimit -n or lower limits.connections`);
    limits.ingest = ingestMax;
    limits.ingestPerAddress = Math.min(limits.ingestPerAddress, ingestMax);
  }
  // Node checks its header and request timers on this interval (default 30 s): 1 s keeps header_timeout close to exact.
  const metrics = createServer({ connectionsCheckingInterval: 1000 }, sidecar.metricsApp);
  const ingest = createServer({ connectionsCheckingInterval: 1000 }, sidecar.ingestApp);
  const refused = (listener: Listener, reason: ConnectionRefusal) => sidecar.meter.catalog.connectionsRefused.inc({ listener, reason });
  guardConnections(metrics, 'metrics', limits, refused);
  guardConnections(ingest, 'ingest', limits, refused);
  // Requests Node's HTTP parser refuses (a bad request line, a CR or NUL in a header, headers over the
  // limit) never reach the app: answer them as Node would, and count them, so nothing is refused silently.
  // The answer is written and the socket destroyed once it is flushed, not half-closed: a client that never reads would
  // otherwise keep a half-closed socket, and its place under the connection cap, for ever.
  const answer = (socket: Duplex, status: string) => {
    socket.once('finish', () => socket.destroy());
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  for (const [server, listener] of [[metrics, 'metrics'], [ingest, 'ingest']] as const) {
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        refused(listener, 'headers_timeout');
        return answer(socket, '408 Request Timeout');
      }
      if (listener === 'ingest') sidecar.meter.catalog.ingestRejected.inc({ source: 'http', reason: 'bad_request' });
      answer(socket, err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request');
    });
  }
  const mHost = opts.metricsHost ?? config.listeners.metrics.host;
  const iHost = opts.ingestHost ?? config.listeners.ingest.host;
  const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
  let udp: Socket | undefined;
  try {
    const mPort = await listen(metrics, opts.metricsPort ?? config.listeners.metrics.port, mHost, 'metrics', opts.flags?.metrics);
    const iPort = await listen(ingest, opts.ingestPort ?? config.listeners.ingest.port, iHost, 'ingest', opts.flags?.ingest);
    if (sidecar.handleStatsdPacket !== undefined) udp = await bindStatsd(sidecar, config.statsd.host, opts.statsdPort ?? config.statsd.port, opts.flags?.statsd);
    const stopDrops = udp === undefined ? () => {} : watchKernelDrops(sidecar, udp, opts.kernelDropsEveryMs ?? 5000);
    opts.onListening?.({ metricsUrl: `http://${urlHost(mHost)}:${mPort}/metrics`, metricsAddress: hostPort(mHost, mPort), ingestAddress: hostPort(iHost, iPort) });
    await sidecar.start();
    let closing: Promise<void> | undefined;
    return {
      metricsUrl: `http://${urlHost(mHost)}:${mPort}/metrics`,
      ingestUrl: `http://${urlHost(iHost)}:${iPort}`,
      metricsAddress: hostPort(mHost, mPort),
      ingestAddress: hostPort(iHost, iPort),
      statsdAddress: udp === undefined ? undefined : `${urlHost(config.statsd.host)}:${udp.address().port}`,
      meter: sidecar.meter,
      sidecar,
      close: () =>
        (closing ??= (async () => {
          // Ingest first: no event accepted after this point is lost from the final snapshot.
          stopDrops();
          await closeSocket(udp);
          await drain(ingest, drainMs);
          await sidecar.stop();
          await drain(metrics, drainMs);
        })()),
    };
  } catch (err) {
    await Promise.all([drain(metrics, 0), drain(ingest, 0), closeSocket(udp)]);
    await sidecar.stop().catch(() => {});
    throw err;
  }
}

/**
 * readConfig loads --config FILE (relative paths inside it resolve from its directory), or the embedded default. The
 * file must be a regular file of at most 1 MiB: a FIFO or a device is refused at once, never waited on or read for ever.
 */
export function readConfig(file: string | undefined): SidecarConfig {
  if (file === undefined) return loadConfig(DEFAULT_CONFIG_YAML, '<default config>');
  let text: string;
  try {
    text = readRegularFile(file, configBounds.fileBytes).text;
  } catch (err) {
    const why = err instanceof NotRegularFile ? err.message : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    throw new PipemeterError('E_CONFIG', `cannot read the config file "${file}" (${why}); check the path given to --config`, { cause: err });
  }
  return resolvePaths(loadConfig(text, file), dirname(file));
}
