/**
 * meter.http(): request duration and in-flight requests of an HTTP server, as an express-compatible middleware or a
 * wrapper of a plain `node:http` handler. Typed with node:http only: express is never loaded or named.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTP_OTHER_METHOD, httpKnownMethods, httpServerRequestDuration } from '../catalog/index.js';
import { PipemeterError } from '../shared/errors.js';
import { type FamilyContext, loneSurrogateRe } from './family.js';
import type { BoundGauge, Gauge, Histogram } from './instruments.js';
import { familyProblem } from './validate.js';

/** A request handler of a plain `node:http` server. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * An express (or connect) middleware: `app.use(meter.http())`, first, before the routes. `wrap` instruments a plain
 * `node:http` handler instead: `createServer(meter.http().wrap(handler))`.
 */
export interface HttpMiddleware {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  wrap<H extends HttpHandler>(handler: H): H;
}

export interface HttpOptions {
  /**
   * Request paths not recorded: a string is one exact path (query ignored, a trailing slash the same path), a RegExp
   * is tested on the path. Default `['/metrics']`; a list given here replaces it.
   */
  exclude?: readonly (string | RegExp)[];
  /** Static labels on both families, e.g. `{ service: 'api' }`; every meter.http() of one meter takes the same names. */
  labels?: Readonly<Record<string, string>>;
  /**
   * The route template of a request (`/items/:id`), read when its response ends; for a plain `node:http` server.
   * Default: express's matched route (`req.baseUrl` + `req.route.path`), or `""` when no route matched. Express keeps
   * no template of a router's mount path: its parameters get their names back when the router has `mergeParams: true`,
   * else only id-shaped segments (numbers, UUIDs, hex) become `:param`.
   */
  route?: (req: IncomingMessage) => string | undefined;
  /**
   * The methods recorded as themselves; any other is recorded as `_OTHER`. Default: the semantic conventions' known
   * methods (CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY, TRACE). A full list, not an addition.
   */
  knownMethods?: readonly string[];
}

/** The route label values that are longer are refused (recorded as `route=""`, counted as `invalid_route`). */
export const MAX_ROUTE_LENGTH = 256;

/** The families meter.http() records into, with the static label names they were declared with. */
export interface HttpInstruments {
  duration: Histogram;
  active: Gauge;
  /** Static label names, sorted: after `method`, `route`, `status_code` in the families' labels. */
  extra: readonly string[];
}

const OPTION_KEYS = new Set(['exclude', 'labels', 'route', 'knownMethods']);
const OWN_LABELS: ReadonlySet<string> = new Set(httpServerRequestDuration.labels);
/** An HTTP method token (RFC 9110 section 5.6.2). */
const tokenRe = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function fail(message: string): never {
  throw new PipemeterError('E_HTTP_OPTIONS', `meter.http(): ${message}`);
}

/** The options, checked once at declaration; every message says what to change. */
export interface CheckedHttpOptions {
  exclude: { paths: ReadonlySet<string>; patterns: readonly RegExp[] };
  labels: Readonly<Record<string, string>>;
  extra: readonly string[];
  route: ((req: IncomingMessage) => string | undefined) | undefined;
  methods: ReadonlySet<string>;
}

/** checkHttpOptions validates meter.http()'s options, throwing E_HTTP_OPTIONS with the fix for the first problem. */
export function checkHttpOptions(opts: unknown): CheckedHttpOptions {
  if (opts === undefined) opts = {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) fail(`options must be an object such as { exclude: ['/metrics', '/healthz'] }, not ${describe(opts)}`);
  const o = opts as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !OPTION_KEYS.has(k));
  if (unknown.length > 0) fail(`unknown option ${unknown.map((k) => `"${k}"`).join(', ')}; the options are ${[...OPTION_KEYS].join(', ')}`);

  const paths = new Set<string>();
  const patterns: RegExp[] = [];
  const exclude = o.exclude ?? ['/metrics'];
  if (!Array.isArray(exclude)) fail(`exclude must be a list of paths or RegExps, e.g. ['/metrics', /^\\/health/], not ${describe(exclude)}`);
  for (const [i, e] of exclude.entries()) {
    if (e instanceof RegExp) patterns.push(new RegExp(e.source, e.flags.replace(/[gy]/g, '')));
    else if (typeof e === 'string' && e.startsWith('/')) {
      paths.add(e);
      paths.add(e.length > 1 && e.endsWith('/') ? e.slice(0, -1) : `${e}/`);
    } else fail(`exclude[${i}] is ${describe(e)}; give a path starting with "/" (e.g. "/healthz") or a RegExp tested on the path`);
  }

  const labels: Record<string, string> = {};
  const given = o.labels ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) fail(`labels must be an object of label names to values, e.g. { service: 'api' }, not ${describe(given)}`);
  const extra = Object.keys(given).sort();
  for (const name of extra) {
    if (OWN_LABELS.has(name)) fail(`label "${name}" is set by meter.http() itself; choose another name for the static label`);
    if (name === 'job' || name === 'instance') fail(`label "${name}" is the target label Prometheus attaches from its scrape config (yours would become "exported_${name}"); set it there, or choose another name such as "service"`);
    const value = (given as Record<string, unknown>)[name];
    if (typeof value !== 'string' || loneSurrogateRe.test(value)) fail(`label "${name}" has value ${describe(value)}; static label values are strings`);
    labels[name] = value;
  }
  const problem = familyProblem({ ...httpServerRequestDuration, labels: [...httpServerRequestDuration.labels, ...extra] });
  if (problem !== undefined) fail(problem.message.replace(`${httpServerRequestDuration.name}: `, ''));

  const route = o.route;
  if (route !== undefined && typeof route !== 'function') fail(`route must be a function (req) => the route template such as "/items/:id", not ${describe(route)}`);

  const known = o.knownMethods ?? httpKnownMethods;
  if (!Array.isArray(known)) fail(`knownMethods must be a list of method names, e.g. ['GET', 'POST', 'PROPFIND'], not ${describe(known)}`);
  for (const [i, m] of known.entries()) {
    if (typeof m !== 'string' || !tokenRe.test(m) || m === HTTP_OTHER_METHOD) fail(`knownMethods[${i}] is ${describe(m)}; give method names as sent, e.g. "GET" or "PROPFIND"`);
  }
  return { exclude: { paths, patterns }, labels, extra, route: route as CheckedHttpOptions['route'], methods: new Set(known as string[]) };
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || Array.isArray(v)) return v === null ? 'null' : 'a list';
  return typeof v === 'object' || typeof v === 'function' ? `a ${typeof v}` : `${typeof v} ${String(v)}`;
}

/** pathOf is a request URL's path without its query. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** Status codes as label values, made once each (Node allows 100-999). */
const statusLabels: string[] = [];
function statusLabel(res: ServerResponse): string {
  // Without headers sent no status went out: the semantic conventions leave the attribute out, an empty label here.
  if (!res.headersSent) return '';
  const code = res.statusCode;
  if (!(code >= 100 && code <= 999) || !Number.isInteger(code)) return '';
  return (statusLabels[code] ??= String(code));
}

/** What express leaves on a request once a route matched; read structurally, express is never imported. */
interface ExpressRequest {
  route?: { path?: unknown };
  baseUrl?: unknown;
  params?: unknown;
}

/** A path segment of a mount path that is an id, not a word: a number, a UUID, a long hex string. */
const idSegmentRe = /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?=[a-f]*\d)[0-9a-f]{8,})$/i;

/** routePath renders express's route path: a string as written, a RegExp as its source, a list joined by commas. */
function routePath(p: unknown): string | undefined {
  if (typeof p === 'string') return p;
  if (p instanceof RegExp) return String(p);
  if (Array.isArray(p)) return p.map((x) => routePath(x) ?? '').join(',');
  return undefined;
}

/**
 * mountTemplate turns `req.baseUrl` (the path a router was mounted at, with its parameters filled in) back into a
 * template: a segment equal to a parameter's value becomes `:name` (a router made with `mergeParams: true` sees its
 * mount's parameters), and a segment shaped like an id becomes `:param`, so no id of a URL becomes a label value.
 */
export function mountTemplate(base: string, params: unknown): string {
  const segments = base.split('/');
  const named = params !== null && typeof params === 'object' ? (params as Record<string, unknown>) : {};
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '') continue;
    let decoded = seg;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      // A malformed escape is kept as sent; it is still matched against the id shapes below.
    }
    let name: string | undefined;
    for (const k in named) {
      if (named[k] === decoded) {
        name = k;
        break;
      }
    }
    if (name !== undefined) segments[i] = `:${name}`;
    else if (idSegmentRe.test(decoded)) segments[i] = ':param';
  }
  return segments.join('/');
}

/** Mount paths seen to hold no parameter or id (`/api`): read as they are, without splitting them again. */
const MAX_STATIC_MOUNTS = 1_000;

/** expressRoute is the route template express matched for the request, or "" when none did. */
export function expressRoute(req: IncomingMessage, staticMounts: Set<string> = new Set()): string {
  const r = req as IncomingMessage & ExpressRequest;
  const route = r.route;
  if (route === undefined || route === null || typeof route !== 'object') return '';
  const path = routePath(route.path);
  if (path === undefined) return '';
  const base = r.baseUrl;
  if (typeof base !== 'string' || base === '') return path;
  let template = base;
  if (!staticMounts.has(base)) {
    template = mountTemplate(base, r.params);
    if (template === base && staticMounts.size < MAX_STATIC_MOUNTS) staticMounts.add(base);
  }
  return template + (path === '/' ? '' : path);
}

/** httpMiddleware builds the middleware of one meter.http() call over the meter's HTTP families. */
export function httpMiddleware(inst: HttpInstruments, o: CheckedHttpOptions, ctx: FamilyContext): HttpMiddleware {
  const { duration, active } = inst;
  const { paths, patterns } = o.exclude;
  const excluding = paths.size > 0 || patterns.length > 0;
  const statics = o.labels;
  const hasStatics = inst.extra.length > 0;
  const methods = o.methods;
  const routeOf = o.route;
  const activeByMethod = new Map<string, BoundGauge>();
  const staticMounts = new Set<string>();

  const excluded = (req: IncomingMessage): boolean => {
    const url = (req as IncomingMessage & { originalUrl?: unknown }).originalUrl;
    const path = pathOf(typeof url === 'string' ? url : (req.url ?? '/'));
    if (paths.has(path)) return true;
    for (const p of patterns) if (p.test(path)) return true;
    return false;
  };

  const activeOf = (method: string): BoundGauge => {
    let g = activeByMethod.get(method);
    if (g === undefined) {
      g = active.labels(hasStatics ? { ...statics, method } : { method });
      activeByMethod.set(method, g);
    }
    return g;
  };

  const route = (req: IncomingMessage): string => {
    let r: unknown;
    if (routeOf === undefined) r = expressRoute(req, staticMounts);
    else {
      try {
        r = routeOf(req);
      } catch {
        ctx.error('invalid_route');
        return '';
      }
      if (r === undefined) return '';
    }
    if (typeof r !== 'string' || r.length > MAX_ROUTE_LENGTH) {
      ctx.error('invalid_route');
      return '';
    }
    return r;
  };

  /** track starts timing one request and counts it in flight until its response closes; false when excluded. */
  const track = (req: IncomingMessage, res: ServerResponse): void => {
    if (excluding && excluded(req)) return;
    const m = req.method;
    const method = m !== undefined && methods.has(m) ? m : HTTP_OTHER_METHOD;
    const inFlight = activeOf(method);
    inFlight.inc();
    const start = performance.now();
    // 'close' comes once per response: after it finished, or when the connection went first.
    res.once('close', () => {
      inFlight.dec();
      const seconds = (performance.now() - start) / 1000;
      const status_code = statusLabel(res);
      const r = route(req);
      duration.observe(hasStatics ? { ...statics, method, route: r, status_code } : { method, route: r, status_code }, seconds);
    });
  };

  const middleware = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    track(req, res);
    if (next !== undefined) next();
  }) as HttpMiddleware;
  middleware.wrap = <H extends HttpHandler>(handler: H): H => {
    if (typeof handler !== 'function') throw new PipemeterError('E_HTTP_OPTIONS', `meter.http().wrap(handler): handler must be a function (req, res) => ..., not ${describe(handler)}`);
    return ((req: IncomingMessage, res: ServerResponse) => {
      track(req, res);
      return handler(req, res);
    }) as H;
  };
  return middleware;
}
