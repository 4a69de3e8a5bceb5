/**
 * meter.http() on real servers: an express 5 app and a plain node:http server under autocannon record exactly the
 * requests sent (by route template, method and status); no URL becomes a label; unknown methods fold into `_OTHER`;
 * excluded paths, static labels, in-flight counting, aborted requests, bounds, and options refused with the fix.
 */
import { type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { httpKnownMethods, httpServerSeconds } from '../../src/catalog/index.js';
import { createMeter, type Meter, parseExposition, PipemeterError } from '../../src/index.js';
import { MAX_ROUTE_LENGTH, expressRoute, mountTemplate } from '../../src/meter/http.js';
import { lintedExpositions } from '../helpers/exposition.js';

const lint = lintedExpositions();
const DURATION = 'http_server_request_duration_seconds';
const ACTIVE = 'http_server_active_requests';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
const servers: { close(): void; closeAllConnections(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** listen serves a request listener (an express app or a plain handler) on a loopback port and returns its base URL. */
async function listen(handler: Listener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, r) => (err ? reject(err) : resolve(r))));
}

/** send makes one request with any method (fetch refuses some) and resolves with the status once the body is read. */
function send(base: string, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** samples reads one sample name of the meter's text exposition as label sets with values. */
async function samples(meter: Meter, name: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const parsed = parseExposition(await lint.text(meter));
  expect(parsed.problems).toEqual([]);
  return parsed.families.flatMap((f) => f.samples.filter((s) => s.name === name).map((s) => ({ labels: s.labels, value: s.value })));
}

/** counts reads the request counts (`_count` samples) keyed `METHOD route status`, static labels appended. */
async function counts(meter: Meter): Promise<Record<string, number>> {
  // 'close' is emitted after the response's last byte is handed to the socket: let the last ones through.
  await new Promise((r) => setTimeout(r, 20));
  const out: Record<string, number> = {};
  for (const s of await samples(meter, `${DURATION}_count`)) {
    const { method, route, status_code, ...rest } = s.labels;
    const extra = Object.entries(rest).map(([k, v]) => ` ${k}=${v}`).join('');
    out[`${method} ${route} ${status_code}${extra}`] = s.value;
  }
  return out;
}

function meterOf(opts: Parameters<typeof createMeter>[0] = {}): { meter: Meter; logged: string[] } {
  const logged: string[] = [];
  return { meter: createMeter({ defaultMetrics: false, logger: (m) => logged.push(m), ...opts }), logged };
}

/** The express 5 app the load tests hit: plain routes, a mounted router, a param-mounted router, errors, 404s. */
function app(meter: Meter, opts?: Parameters<Meter['http']>[0]) {
  const a = express();
  a.use(meter.http(opts));
  a.use(meter.router());
  a.get('/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  a.post('/items', (_req, res) => {
    res.status(201).json({ ok: true });
  });
  a.get('/healthz', (_req, res) => {
    res.send('ok');
  });
  a.get('/boom', () => {
    throw new Error('boom');
  });
  const api = express.Router();
  api.get('/users/:user/orders/:order', (_req, res) => {
    res.send('order');
  });
  a.use('/api', api);
  const orders = express.Router({ mergeParams: true });
  orders.get('/orders/:order', (_req, res) => {
    res.send('order');
  });
  a.use('/shops/:shop', orders);
  const legacy = express.Router();
  legacy.get('/feed', (_req, res) => {
    res.send('feed');
  });
  a.use('/accounts/:account', legacy);
  // Express 5's default error handler logs the stack; the test's /boom is expected.
  a.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).send('error');
  });
  return a;
}

describe('meter.http() on an express 5 app', () => {
  it('under autocannon load records exactly the requests sent, by route template, method and status', async () => {
    const { meter } = meterOf();
    const base = await listen(app(meter));
    const requests: autocannon.Request[] = [
      { method: 'GET', path: '/items/1' },
      { method: 'GET', path: '/items/2?full=1' },
      { method: 'POST', path: '/items', headers: { 'content-type': 'application/json' }, body: '{}' },
      { method: 'GET', path: '/api/users/7/orders/9' },
      { method: 'GET', path: '/shops/acme/orders/3' },
      { method: 'GET', path: '/boom' },
      { method: 'GET', path: '/no/such/page' },
      { method: 'DELETE', path: '/items/1' },
    ];
    const connections = 8;
    const perConnection = requests.length * 25;
    // Each connection sends its requests in order and stops at maxConnectionRequests: exactly 25 rounds of the list each.
    const r = await cannon({ url: base, connections, amount: connections * perConnection, maxConnectionRequests: perConnection, requests });
    const n = connections * 25;
    expect(r.errors).toBe(0);
    expect(r['2xx'] + r.non2xx).toBe(n * requests.length);
    expect(await counts(meter)).toEqual({
      'GET /items/:id 200': 2 * n,
      'POST /items 201': n,
      'GET /api/users/:user/orders/:order 200': n,
      'GET /shops/:shop/orders/:order 200': n,
      'GET /boom 500': n,
      'GET  404': n,
      'DELETE  404': n,
    });
    const active = await samples(meter, ACTIVE);
    expect(active.map((s) => [s.labels.method, s.value]).sort()).toEqual([
      ['DELETE', 0],
      ['GET', 0],
      ['POST', 0],
    ]);
  }, 60_000);

  it('never makes a label of a URL: unmatched paths are one route "", ids in a mount path become parameters', async () => {
    const { meter } = meterOf();
    const base = await listen(app(meter));
    const paths = [
      ...Array.from({ length: 50 }, (_, i) => `/nope/${i}/${'x'.repeat(i)}`),
      '/accounts/12345/feed',
      '/accounts/3f2a9c1e-0b4d-4c6e-9f8a-1d2b3c4d5e6f/feed',
      '/accounts/deadbeef42/feed',
      '/items',
      '/%E0%A4%A',
    ];
    for (const p of paths) await send(base, p);
    const routes = new Set((await samples(meter, `${DURATION}_count`)).map((s) => s.labels.route));
    expect([...routes].sort()).toEqual(['', '/accounts/:param/feed']);
  });

  it('folds methods outside the known set into _OTHER, and knownMethods replaces the set', async () => {
    const { meter } = meterOf();
    const base = await listen(app(meter));
    for (const m of ['PROPFIND', 'MKCOL', 'PURGE', 'GET']) await send(base, '/items/1', m);
    expect(await counts(meter)).toEqual({ 'GET /items/:id 200': 1, '_OTHER  404': 3 });

    const other = meterOf().meter;
    const base2 = await listen(app(other, { knownMethods: ['GET', 'PROPFIND'] }));
    for (const m of ['PROPFIND', 'POST', 'GET']) await send(base2, '/items/1', m);
    expect(await counts(other)).toEqual({ 'PROPFIND  404': 1, '_OTHER  404': 1, 'GET /items/:id 200': 1 });
    expect(httpKnownMethods).toEqual(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);
  });

  it('leaves out /metrics by default, and the paths and patterns of exclude (query and trailing slash ignored) when given', async () => {
    const { meter } = meterOf();
    const base = await listen(app(meter));
    for (const p of ['/metrics', '/metrics/', '/metrics?x=1', '/healthz', '/items/1']) await send(base, p);
    expect(await counts(meter)).toEqual({ 'GET /healthz 200': 1, 'GET /items/:id 200': 1 });

    const other = meterOf().meter;
    const base2 = await listen(app(other, { exclude: ['/healthz', /^\/api\//] }));
    for (const p of ['/healthz', '/healthz/', '/healthz?probe=1', '/api/users/1/orders/2', '/metrics', '/items/1']) await send(base2, p);
    // meter.router() answers /metrics as a middleware, not a route: no template matched.
    expect(await counts(other)).toEqual({ 'GET  200': 1, 'GET /items/:id 200': 1 });
  });

  it('adds static labels to both families; another meter.http() of the meter takes the same names, other values', async () => {
    const { meter } = meterOf();
    const pub = await listen(app(meter, { labels: { server: 'public', app: 'shop' } }));
    const admin = await listen(app(meter, { labels: { app: 'shop', server: 'admin' } }));
    await send(pub, '/items/1');
    await send(admin, '/items/1');
    await send(admin, '/items/2');
    expect(await counts(meter)).toEqual({ 'GET /items/:id 200 app=shop server=public': 1, 'GET /items/:id 200 app=shop server=admin': 2 });
    expect((await samples(meter, ACTIVE)).map((s) => s.labels)).toEqual([
      { method: 'GET', app: 'shop', server: 'public' },
      { method: 'GET', app: 'shop', server: 'admin' },
    ]);
    expect(() => meter.http({ labels: { server: 'x' } })).toThrow(/static labels server differ from the first meter.http\(\) of this meter \(app, server\).*same label names/);
    expect(() => meter.http()).toThrow(/static labels none differ/);
  });
});

describe('meter.http() around a plain node:http handler', () => {
  it('under autocannon load records exactly the requests sent, with the route the route option names', async () => {
    const { meter } = meterOf();
    const routes: Record<string, string> = { '/a': '/a', '/b': '/b/:id' };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0]!;
      res.statusCode = path === '/a' ? 200 : path.startsWith('/b/') ? 202 : 404;
      res.end('x');
    };
    const wrapped = meter.http({ route: (req) => routes[(req.url ?? '').replace(/^\/b\/.*/, '/b')] }).wrap(handler);
    expect(wrapped).not.toBe(handler);
    const base = await listen(wrapped);
    const requests = [{ path: '/a' }, { path: '/b/1' }, { path: '/b/2' }, { path: '/zzz' }, { path: '/metrics' }];
    const r = await cannon({ url: base, connections: 4, amount: 4 * 100, maxConnectionRequests: 100, requests });
    expect(r.errors).toBe(0);
    expect(await counts(meter)).toEqual({ 'GET /a 200': 80, 'GET /b/:id 202': 160, 'GET  404': 80 });
  }, 60_000);

  it('records route "" without a route option, and the wrapped handler sees the request untouched', async () => {
    const { meter } = meterOf();
    const seen: string[] = [];
    const base = await listen(
      meter.http().wrap((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.end();
      }),
    );
    await send(base, '/x/1?y=2', 'PUT');
    expect(seen).toEqual(['PUT /x/1?y=2']);
    expect(await counts(meter)).toEqual({ 'PUT  200': 1 });
  });

  it('as a connect-style middleware without next it records and returns', async () => {
    const { meter } = meterOf();
    const mw = meter.http();
    const base = await listen((req, res) => {
      mw(req, res);
      res.statusCode = 204;
      res.end();
    });
    await send(base, '/');
    expect(await counts(meter)).toEqual({ 'GET  204': 1 });
  });
});

describe('meter.http(): in flight, aborted, durations', () => {
  it('counts a request in flight until its response ends, in the bucket of its duration', async () => {
    const { meter } = meterOf();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const a = express();
    a.use(meter.http());
    a.get('/slow/:n', async (_req, res) => {
      await held;
      res.send('done');
    });
    const base = await listen(a);
    const pending = [send(base, '/slow/1'), send(base, '/slow/2', 'GET')];
    await new Promise((r) => setTimeout(r, 100));
    expect((await samples(meter, ACTIVE)).map((s) => s.value)).toEqual([2]);
    await new Promise((r) => setTimeout(r, 60));
    release();
    expect(await Promise.all(pending)).toEqual([200, 200]);
    expect((await samples(meter, ACTIVE)).map((s) => s.value)).toEqual([0]);
    const buckets = (await samples(meter, `${DURATION}_bucket`)).filter((s) => s.labels.route === '/slow/:n');
    // Both took 160 ms or a little more: none by 0.1 s, both by 0.25 s (OpenTelemetry's buckets).
    expect(buckets.map((b) => b.labels.le)).toEqual([...httpServerSeconds.map(String), '+Inf']);
    expect(buckets.find((b) => b.labels.le === '0.1')?.value).toBe(0);
    expect(buckets.find((b) => b.labels.le === '0.25')?.value).toBe(2);
  });

  it('a request the client drops before the response is recorded with status_code "" and leaves the in-flight gauge', async () => {
    const { meter } = meterOf();
    const a = express();
    a.use(meter.http());
    a.get('/hang/:id', () => {
      /* never answers */
    });
    const base = await listen(a);
    await new Promise<void>((resolve) => {
      const req = request(`${base}/hang/1`, { agent: false });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => req.destroy(), 100);
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(await counts(meter)).toEqual({ 'GET /hang/:id ': 1 });
    expect((await samples(meter, ACTIVE)).map((s) => s.value)).toEqual([0]);
  });
});

describe('meter.http(): bounds', () => {
  it('a route option that throws, returns no string or a route over the limit records route "" and counts invalid_route', async () => {
    const { meter, logged } = meterOf();
    const answers: unknown[] = ['/ok', 42, 'r'.repeat(MAX_ROUTE_LENGTH + 1), 'r'.repeat(MAX_ROUTE_LENGTH), undefined];
    let i = 0;
    const base = await listen(
      meter
        .http({
          route: () => {
            if (i === answers.length) throw new Error('route lookup failed');
            return answers[i++] as string;
          },
        })
        .wrap((_req, res) => res.end()),
    );
    for (let k = 0; k <= answers.length; k++) await send(base, '/x');
    expect(await counts(meter)).toEqual({ 'GET /ok 200': 1, 'GET  200': 4, [`GET ${'r'.repeat(MAX_ROUTE_LENGTH)} 200`]: 1 });
    const errors = await samples(meter, 'pipemeter_instrumentation_errors_total');
    expect(errors.find((s) => s.labels.reason === 'invalid_route')?.value).toBe(3);
    expect(logged.filter((l) => l.includes('invalid_route'))).toHaveLength(1);
  });

  it('a route option that returns raw URLs is held to the series cap: new routes fold into __overflow__, each counted', async () => {
    const { meter } = meterOf({ families: { [DURATION]: { maxSeries: 20 } } });
    const base = await listen(meter.http({ route: (req) => req.url }).wrap((_req, res) => res.end()));
    for (let k = 0; k < 50; k++) await send(base, `/u/${k}`);
    const c = await counts(meter);
    expect(Object.keys(c)).toHaveLength(21);
    expect(c['__overflow__ __overflow__ __overflow__']).toBe(30);
    const overflow = await samples(meter, 'pipemeter_series_overflow_total');
    expect(overflow.find((s) => s.labels.metric === DURATION)?.value).toBe(30);
  });

  it('the cache of static mount paths stops at 1 000 entries and routes stay right past it', () => {
    const cache = new Set<string>();
    const req = (baseUrl: string) => ({ baseUrl, params: {}, route: { path: '/feed' } }) as unknown as IncomingMessage;
    for (let i = 0; i < 1_500; i++) expect(expressRoute(req(`/accounts/user-${i}`), cache)).toBe(`/accounts/user-${i}/feed`);
    expect(cache.size).toBe(1_000);
    expect(expressRoute(req('/accounts/12345'), cache)).toBe('/accounts/:param/feed');
    expect(expressRoute(req('/accounts/user-1499'), cache)).toBe('/accounts/user-1499/feed');
    expect(cache.size).toBe(1_000);
  });

  it('mountTemplate names mergeParams parameters and turns id-shaped segments into :param', () => {
    expect(mountTemplate('/shops/acme', { shop: 'acme', order: '3' })).toBe('/shops/:shop');
    expect(mountTemplate('/api/v2/users/123/x/3f2a9c1e-0b4d-4c6e-9f8a-1d2b3c4d5e6f/h/deadbeef1', {})).toBe('/api/v2/users/:param/x/:param/h/:param');
    expect(mountTemplate('/tags/caf%C3%A9', { tag: 'café' })).toBe('/tags/:tag');
    expect(mountTemplate('/bad/%E0%A4%A', undefined)).toBe('/bad/%E0%A4%A');
  });
});

describe('meter.http(): options are checked at declaration', () => {
  const { meter } = meterOf();
  it.each<[string, unknown, RegExp]>([
    ['not an object', 'fast', /options must be an object such as \{ exclude/],
    ['a typo', { excludes: ['/metrics'] }, /unknown option "excludes"; the options are exclude, labels, route, knownMethods/],
    ['exclude not a list', { exclude: '/metrics' }, /exclude must be a list of paths or RegExps/],
    ['exclude without a slash', { exclude: ['healthz'] }, /exclude\[0\] is "healthz"; give a path starting with "\/"/],
    ['labels not an object', { labels: ['service'] }, /labels must be an object of label names to values/],
    ['a label of its own', { labels: { route: 'x' } }, /label "route" is set by meter.http\(\) itself/],
    ['job', { labels: { job: 'api' } }, /label "job" is the target label Prometheus attaches.*"exported_job".*"service"/],
    ['an id label', { labels: { tenant_id: 't1' } }, /label "tenant_id" looks like an id.*exemplars/],
    ['a bad label name', { labels: { 'my-label': 'x' } }, /label name "my-label" is not valid/],
    ['a label value not a string', { labels: { service: 1 } }, /label "service" has value number 1; static label values are strings/],
    ['route not a function', { route: '/items/:id' }, /route must be a function \(req\) => the route template/],
    ['knownMethods not a list', { knownMethods: 'GET' }, /knownMethods must be a list of method names/],
    ['a method with a space', { knownMethods: ['GET', 'BAD METHOD'] }, /knownMethods\[1\] is "BAD METHOD"; give method names as sent/],
    ['_OTHER as a method', { knownMethods: ['_OTHER'] }, /knownMethods\[0\] is "_OTHER"/],
  ])('refuses %s with E_HTTP_OPTIONS and the fix', (_name, opts, message) => {
    let err: unknown;
    try {
      meter.http(opts as Parameters<Meter['http']>[0]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipemeterError);
    expect((err as PipemeterError).code).toBe('E_HTTP_OPTIONS');
    expect((err as PipemeterError).message).toMatch(/^meter\.http\(\): /);
    expect((err as PipemeterError).message).toMatch(message);
  });

  it('refuses a handler that is not a function in wrap()', () => {
    expect(() => meter.http().wrap('handler' as unknown as Listener)).toThrow(/wrap\(handler\): handler must be a function/);
  });

  it('registers the families once meter.http() is called; they show from the first request', async () => {
    const fresh = meterOf().meter;
    expect(fresh.getFamily(DURATION)).toBeUndefined();
    fresh.http();
    expect(fresh.getFamily(DURATION)?.labelNames).toEqual(['method', 'route', 'status_code']);
    expect(fresh.getFamily(ACTIVE)?.labelNames).toEqual(['method']);
    const text = await lint.text(fresh);
    expect(text).not.toMatch(/^# TYPE http_/m);
    // Their overflow counters start at 0 with them, as every family's does.
    expect(text).toContain(`pipemeter_series_overflow_total{metric="${DURATION}"} 0`);
  });

  it('a family the user already declared under the name is a clear duplicate', () => {
    const m = meterOf().meter;
    m.histogram({ name: DURATION, help: 'Mine.', buckets: [1] });
    expect(() => m.http()).toThrow(/"http_server_request_duration_seconds" is already registered by meter.histogram\(\); a second registration came from meter.http\(\)/);
  });
});
