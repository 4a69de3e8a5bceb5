/** Bad input at every ingest route: each is a clear 4xx with a reason, counted, and its valid neighbours still land. */
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../../src/exposition/parse.js';
import { signBody } from '../../src/sidecar/firecrawl.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { makeSidecar, memoryFs, sampleLines } from '../sidecar/fixtures.js';

const lint = lintedExpositions();
const SECRET = 'rel-webhook-secret';

const CONFIG = `
pipelines:
  crawl: { stages: [chunking], firecrawl: { secret_file: /secret } }
  open: { firecrawl: true }
families:
  - { name: rel_events_total, type: counter, help: Events by kind., labels: [kind] }
  - { name: rel_level, type: gauge, help: A level by kind., labels: [kind] }
limits: { body_size: 4KiB }
`;

function app() {
  const t = makeSidecar(CONFIG, { fs: memoryFs({ '/secret': SECRET }) });
  return { ...t, http: request(t.sidecar.ingestApp) };
}

const good = JSON.stringify({ type: 'metric', name: 'rel_events_total', labels: { kind: 'good' } });
const metric = (labels: unknown, value?: unknown) => JSON.stringify({ type: 'metric', name: 'rel_events_total', labels, value });
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

/** Inputs tried, for docs/reliability.md: every case below counts. */
let tried = 0;
afterAll(() => console.log(`bad-input: ${tried} inputs tried`));

/** [what, the bad event as one line of JSON text (or bytes), the reason counted, a fragment of the message]. */
const badEvents: [string, string | Buffer, string, string][] = [
  ['malformed JSON', '{"type":', 'invalid_json', 'is not JSON'],
  ['NaN literal', '{"type":"metric","name":"rel_events_total","labels":{"kind":"a"},"value":NaN}', 'invalid_json', 'is not JSON'],
  ['a trailing comma', '{"type":"items","pipeline":"p","outcome":"x",}', 'invalid_json', 'is not JSON'],
  ['not an object', '42', 'invalid_event', 'expected a JSON object'],
  ['null', 'null', 'invalid_event', 'expected a JSON object'],
  ['an array', '[1,2]', 'invalid_event', 'expected a JSON object'],
  ['no type', '{"scraper":"a"}', 'unknown_type', 'type: expected one of'],
  ['an unknown type', '{"type":"item_deleted"}', 'unknown_type', 'type: expected one of'],
  ['count as a string', '{"type":"items","pipeline":"p","outcome":"x","count":"3"}', 'invalid_event', 'count: expected a whole number'],
  ['a number for a name', '{"type":"item_created","scraper":5,"item_type":"t","source":"s"}', 'invalid_event', 'scraper: expected a name'],
  ['labels as an array', metric(['good']), 'invalid_event', 'labels: expected an object'],
  ['a label value as a number', metric({ kind: 7 }), 'invalid_event', 'labels.kind: expected a string'],
  ['value as a string', metric({ kind: 'a' }, '1'), 'invalid_event', 'value: expected a finite number'],
  ['value true', metric({ kind: 'a' }, true), 'invalid_event', 'value: expected a finite number'],
  ['an unknown family', '{"type":"metric","name":"nope_total","value":1}', 'unknown_family', 'is not a declared family'],
  ['an unknown label', metric({ kind: 'a', extra: 'b' }), 'invalid_event', 'has no label "extra"'],
  ['a missing label', metric({}), 'invalid_event', 'labels.kind: expected a string'],
  ['an unknown field', '{"type":"items","pipeline":"p","outcome":"x","cuont":2}', 'invalid_event', 'cuont: unknown field'],
  ['Infinity (1e400)', '{"type":"metric","name":"rel_level","labels":{"kind":"a"},"value":1e400}', 'invalid_event', 'value: expected a finite number'],
  ['-Infinity (-1e400)', '{"type":"metric","name":"rel_level","labels":{"kind":"a"},"value":-1e400}', 'invalid_event', 'value: expected a finite number'],
  ['a negative counter increment', metric({ kind: 'a' }, -1), 'invalid_event', 'only goes up'],
  ['a negative count', '{"type":"items","pipeline":"p","outcome":"x","count":-1}', 'invalid_event', 'count: expected a whole number'],
  ['a fractional count', '{"type":"items","pipeline":"p","outcome":"x","count":0.5}', 'invalid_event', 'count: expected a whole number'],
  ['a count past 2^53', '{"type":"items","pipeline":"p","outcome":"x","count":1e300}', 'value_out_of_range', 'is over 9007199254740991'],
  ['a negative duration', '{"type":"stage","pipeline":"p","stage":"s","duration_seconds":-2}', 'invalid_event', 'duration_seconds: expected a number of seconds >= 0'],
  ['a duration of 1e400', '{"type":"stage","pipeline":"p","stage":"s","duration_seconds":1e400}', 'invalid_event', 'duration_seconds: expected a number of seconds >= 0'],
  ['a bad timestamp', '{"type":"items","pipeline":"p","outcome":"x","at":"yesterday"}', 'invalid_event', 'at: expected RFC 3339'],
  ['a negative timestamp', '{"type":"items","pipeline":"p","outcome":"x","at":-5}', 'invalid_event', 'at: expected RFC 3339'],
  ['a source over 2048 characters', JSON.stringify({ type: 'item_created', scraper: 'a', item_type: 't', source: 'x'.repeat(2049) }), 'invalid_event', 'source: expected a non-empty string of at most 2048'],
  ['a job id over 256 characters', JSON.stringify({ type: 'job_started', pipeline: 'p', job_id: 'j'.repeat(257) }), 'invalid_event', 'job_id: expected a non-empty string of at most 256'],
  ['a label value over 128 characters', metric({ kind: 'k'.repeat(129) }), 'invalid_event', 'at most 128 characters'],
  ['a name with a space', '{"type":"items","pipeline":"my pipe","outcome":"x"}', 'invalid_event', 'pipeline: expected a name'],
  ['a name with a newline', '{"type":"items","pipeline":"p\\nq","outcome":"x"}', 'invalid_event', 'pipeline: expected a name'],
  ['a name with a quote', '{"type":"items","pipeline":"p\\"q","outcome":"x"}', 'invalid_event', 'pipeline: expected a name'],
  ['a name with a NUL', '{"type":"items","pipeline":"p\\u0000","outcome":"x"}', 'invalid_event', 'pipeline: expected a name'],
  ['a lone high surrogate in a label value', '{"type":"metric","name":"rel_events_total","labels":{"kind":"\\ud800"}}', 'invalid_event', 'lone UTF-16 surrogate'],
  ['a lone low surrogate in a label value', '{"type":"metric","name":"rel_events_total","labels":{"kind":"a\\udc00"}}', 'invalid_event', 'lone UTF-16 surrogate'],
  ['a lone surrogate in a job id', '{"type":"job_started","pipeline":"p","job_id":"\\udbff"}', 'invalid_event', 'lone UTF-16 surrogate'],
  ['deep nesting in a label', metric({ kind: JSON.parse(deep(500)) }), 'invalid_event', 'labels.kind: expected a string'],
  ['deep nesting as an event', deep(1000), 'invalid_event', 'expected a JSON object'],
  ['"__proto__" as a field', '{"type":"items","pipeline":"p","outcome":"x","__proto__":{"count":5}}', 'invalid_event', '__proto__: unknown field'],
  ['"constructor" as a field', '{"type":"items","pipeline":"p","outcome":"x","constructor":{"prototype":{"polluted":1}}}', 'invalid_event', 'constructor: unknown field'],
  ['"__proto__" as the type', '{"type":"__proto__"}', 'unknown_type', 'type: expected one of'],
  ['"constructor" as the type', '{"type":"constructor"}', 'unknown_type', 'type: expected one of'],
  ['"toString" as the type', '{"type":"toString"}', 'unknown_type', 'type: expected one of'],
  ['"__proto__" as a label', '{"type":"metric","name":"rel_events_total","labels":{"kind":"a","__proto__":{"polluted":"1"}}}', 'invalid_event', 'has no label "__proto__"'],
  ['"constructor" as a label', metric({ kind: 'a', constructor: 'x' }), 'invalid_event', 'has no label "constructor"'],
  ['"prototype" as a label', metric({ kind: 'a', prototype: 'x' }), 'invalid_event', 'has no label "prototype"'],
  ['"__proto__" as the family', '{"type":"metric","name":"__proto__"}', 'unknown_family', 'is not a declared family'],
  ['"constructor" as the family', '{"type":"metric","name":"constructor"}', 'unknown_family', 'is not a declared family'],
  ['"hasOwnProperty" as the family', '{"type":"metric","name":"hasOwnProperty"}', 'unknown_family', 'is not a declared family'],
  ['invalid UTF-8 bytes', Buffer.concat([Buffer.from('{"type":"items","pipeline":"p","outcome":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 'invalid_utf8', 'is not valid UTF-8'],
  ['an overlong UTF-8 encoding of "/"', Buffer.concat([Buffer.from('{"type":"items","pipeline":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('","outcome":"x"}')]), 'invalid_utf8', 'is not valid UTF-8'],
  ['a UTF-8 encoded surrogate', Buffer.concat([Buffer.from('{"type":"metric","name":"rel_events_total","labels":{"kind":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}}')]), 'invalid_utf8', 'is not valid UTF-8'],
];

/** superagent JSON-encodes a Buffer sent as application/json; the tests send bytes as they are. */
const identity = (b: unknown) => b as string;

const isJsonText = (b: string | Buffer) => {
  if (typeof b !== 'string') return false;
  try {
    JSON.parse(b);
    return true;
  } catch {
    return false;
  }
};

async function exposition(t: ReturnType<typeof app>) {
  return lint.text(t.sidecar.meter);
}

function expectCounted(text: string, source: string, reason: string, n: number) {
  expect(sampleLines(text, `pipemeter_ingest_rejected_total{source="${source}",reason="${reason}"}`)).toEqual([`pipemeter_ingest_rejected_total{source="${source}",reason="${reason}"} ${n}`]);
}

describe('POST /v1/events: one bad event between two good ones', () => {
  it.each(badEvents)('NDJSON with %s: the line is refused and counted, its neighbours land', async (_what, bad, reason, fragment) => {
    tried++;
    const t = app();
    const body = Buffer.concat([Buffer.from(good + '\n'), Buffer.isBuffer(bad) ? bad : Buffer.from(bad), Buffer.from('\n' + good + '\n')]);
    const res = await t.http.post('/v1/events').set('Content-Type', 'application/x-ndjson').send(body).expect(200);
    expect(res.body.accepted).toBe(2);
    expect(res.body.rejected).toHaveLength(1);
    expect(res.body.rejected[0]).toMatchObject({ index: 1, code: reason });
    expect(res.body.rejected[0].reason).toContain(fragment);
    const text = await exposition(t);
    expect(sampleLines(text, 'rel_events_total{kind="good"}')).toEqual(['rel_events_total{kind="good"} 2']);
    expectCounted(text, 'events', reason, 1);
    expect(sampleLines(text, 'pipemeter_ingest_events_total{source="events"')).toEqual([
      'pipemeter_ingest_events_total{source="events",outcome="accepted"} 2',
      'pipemeter_ingest_events_total{source="events",outcome="rejected"} 1',
    ]);
    // Nothing the bad event carried reached any prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).count).toBeUndefined();
  });

  it.each(badEvents.filter(([, b]) => isJsonText(b)))('a JSON array with %s: the item is refused and counted, its neighbours land', async (_what, bad, reason, fragment) => {
    tried++;
    const t = app();
    const res = await t.http.post('/v1/events').set('Content-Type', 'application/json').send(`[${good},${bad as string},${good}]`).expect(200);
    expect(res.body).toMatchObject({ accepted: 2, rejected: [{ index: 1, code: reason }] });
    expect(res.body.rejected[0].reason).toContain(fragment);
    const text = await exposition(t);
    expect(sampleLines(text, 'rel_events_total{kind="good"}')).toEqual(['rel_events_total{kind="good"} 2']);
    expectCounted(text, 'events', reason, 1);
  });

  it.each(badEvents.filter(([, b]) => isJsonText(b) && !(b as string).startsWith('[')))('one JSON object, %s: 400 E_EVENTS_REJECTED naming the problem', async (_what, bad, reason, fragment) => {
    tried++;
    const t = app();
    const res = await t.http.post('/v1/events').set('Content-Type', 'application/json').send(bad as string).expect(400);
    expect(res.body.error.code).toBe('E_EVENTS_REJECTED');
    expect(res.body.error.message).toContain(fragment);
    expectCounted(await exposition(t), 'events', reason, 1);
  });
});

/** Label values that are strange but valid text: they land as sent, escaped in the exposition, and parse back. */
const strangeValues = ['quote " inside', 'back\\slash', 'new\nline', 'cr\rhere', 'tab\there', 'nul\u0000byte', 'bell\u0007', 'del\u007f', '\\n literally', '"', '\\', '', ' ', 'emoji 🦀 and 中文', '\u2028\u2029', '}{,="'];

describe('POST /v1/events: label values with quotes, backslashes, newlines and control characters', () => {
  it.each(strangeValues.map((v) => [JSON.stringify(v), v]))('%s lands as sent and parses back from the exposition', async (_shown, value) => {
    tried++;
    const t = app();
    await t.http.post('/v1/events').set('Content-Type', 'application/x-ndjson').send(`${good}\n${metric({ kind: value }, 3)}\n`).expect(200, { accepted: 2, rejected: [] });
    const text = await exposition(t);
    const parsed = parseExposition(text, 'text');
    expect(parsed.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const fam = parsed.families.find((f) => f.name === 'rel_events_total')!;
    expect(fam.samples.map((s) => [s.labels.kind, s.value])).toEqual([
      ['good', 1],
      [value, 3],
    ]);
  });

  it('a gauge set to 1e308 and -1e308 is exposed as that number', async () => {
    tried++;
    const t = app();
    const lines = [JSON.stringify({ type: 'metric', name: 'rel_level', labels: { kind: 'hi' }, value: 1e308 }), JSON.stringify({ type: 'metric', name: 'rel_level', labels: { kind: 'lo' }, value: -1e308 })];
    await t.http.post('/v1/events').set('Content-Type', 'application/x-ndjson').send(lines.join('\n')).expect(200, { accepted: 2, rejected: [] });
    expect(sampleLines(await exposition(t), 'rel_level')).toEqual(['rel_level{kind="hi"} 1e+308', 'rel_level{kind="lo"} -1e+308']);
  });
});

/** Requests refused whole, before any event is read: [what, content type, body, gzip, status, code, reason]. */
const badRequests: [string, string | undefined, string | Buffer, boolean, number, string, string][] = [
  ['a body over limits.body_size', 'application/x-ndjson', (good + '\n').repeat(100), false, 413, 'E_BODY_TOO_LARGE', 'body_too_large'],
  ['one line over limits.body_size', 'application/x-ndjson', JSON.stringify({ type: 'item_created', scraper: 'a', item_type: 't', source: 'x'.repeat(5000) }), false, 413, 'E_BODY_TOO_LARGE', 'body_too_large'],
  ['a gzip bomb (10 MB of zeros, 10 KB gzipped)', 'application/json', gzipSync(Buffer.alloc(10_000_000, 0x20)), true, 413, 'E_BODY_TOO_LARGE', 'body_too_large'],
  ['malformed JSON', 'application/json', '{"type":"items",', false, 400, 'E_INVALID_JSON', 'invalid_json'],
  ['an array with one malformed item', 'application/json', `[${good},{"type":]`, false, 400, 'E_INVALID_JSON', 'invalid_json'],
  ['invalid UTF-8 in a JSON body', 'application/json', Buffer.from([0x5b, 0xff, 0x5d]), false, 400, 'E_INVALID_UTF8', 'invalid_utf8'],
  ['text/plain', 'text/plain', good, false, 415, 'E_MEDIA_TYPE', 'unsupported_media_type'],
  ['no content type', undefined, good, false, 415, 'E_MEDIA_TYPE', 'unsupported_media_type'],
  ['form encoding', 'application/x-www-form-urlencoded', 'a=1', false, 415, 'E_MEDIA_TYPE', 'unsupported_media_type'],
];

describe('POST /v1/events: requests refused whole', () => {
  it.each(badRequests)('%s → %s %s', async (_what, type, body, gzip, status, code, reason) => {
    tried++;
    const t = app();
    let req = t.http.post('/v1/events');
    if (type !== undefined) req = req.set('Content-Type', type);
    if (gzip) req = req.set('Content-Encoding', 'gzip');
    const res = await req.serialize(identity).send(body).expect(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message.length).toBeGreaterThan(20);
    const text = await exposition(t);
    expectCounted(text, 'events', reason, 1);
    expect(sampleLines(text, 'rel_events_total')).toEqual([]);
  });

  it('an empty array and an empty NDJSON body are accepted as nothing', async () => {
    tried += 2;
    const t = app();
    await t.http.post('/v1/events').set('Content-Type', 'application/json').send('[]').expect(200, { accepted: 0, rejected: [] });
    await t.http.post('/v1/events').set('Content-Type', 'application/x-ndjson').send('\n\n').expect(200, { accepted: 0, rejected: [] });
  });

  it('a body of 100 000 nested arrays is refused as one bad event, not a crash', async () => {
    tried++;
    const t = makeSidecar(CONFIG.replace('4KiB', '1MiB'), { fs: memoryFs({ '/secret': SECRET }) });
    const res = await request(t.sidecar.ingestApp).post('/v1/events').set('Content-Type', 'application/x-ndjson').send(deep(100_000)).expect(400);
    expect(res.body.error.details.rejected[0]).toMatchObject({ index: 0, code: 'invalid_event' });
  });
});

describe('wrong routes and methods', () => {
  it.each([
    ['GET /v1/events', 'get', '/v1/events', 405, 'E_METHOD'],
    ['PUT /v1/events', 'put', '/v1/events', 405, 'E_METHOD'],
    ['a typo in the path', 'post', '/v1/event', 404, 'E_NOT_FOUND'],
    ['a path traversal', 'post', '/v1/../v1/events/..%2f..%2fetc', 404, 'E_NOT_FOUND'],
    ['GET /metrics on the ingest listener', 'get', '/metrics', 404, 'E_NOT_FOUND'],
  ] as const)('%s → %s, counted as unknown_route', async (_what, method, path, status, code) => {
    tried++;
    const t = app();
    const res = await t.http[method](path).expect(status);
    expect(res.body.error.code).toBe(code);
    expectCounted(await exposition(t), 'events', 'unknown_route', 1);
  });
});

describe('header injection', () => {
  it('a CR LF in the pipeline path stays in the JSON body, never becomes a response header', async () => {
    tried++;
    const t = app();
    const res = await t.http.post('/v1/webhooks/firecrawl/x%0d%0aX-Evil:%201').set('Content-Type', 'application/json').send('{}').expect(404);
    expect(res.headers['x-evil']).toBeUndefined();
    expect(res.body.error.message).toContain('"x\r\nX-Evil: 1" does not take Firecrawl webhooks');
    expectCounted(await exposition(t), 'firecrawl', 'unknown_pipeline', 1);
  });

  it('a header value with a bare CR or LF is refused with 400 by the HTTP parser, and the listener keeps serving', async () => {
    tried += 2;
    const t = app();
    const server = createServer(t.sidecar.ingestApp).listen(0, '127.0.0.1');
    try {
      await new Promise((r) => server.once('listening', r));
      const port = (server.address() as { port: number }).port;
      const raw = (head: string) =>
        new Promise<string>((resolve, reject) => {
          const s = connect(port, '127.0.0.1');
          let out = '';
          s.setTimeout(3000, () => s.destroy(new Error('timeout')));
          s.on('data', (d) => (out += d));
          s.on('close', () => resolve(out));
          s.on('error', reject);
          s.end(head);
        });
      for (const bad of ['application/json\rX-Evil: 1', 'application/json\nX-Evil: 1'.replace('\n', '\u0000')]) {
        const out = await raw(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: ${bad}\r\nContent-Length: 2\r\n\r\n{}`);
        expect(out).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
        expect(out).not.toMatch(/X-Evil/i);
      }
      const ok = await fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: good, signal: AbortSignal.timeout(3000) });
      expect(ok.status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

const page = (id: string) => ({ success: true, type: 'crawl.page', id, webhookId: `w-${id}`, data: [{ markdown: '#', metadata: { sourceURL: 'https://a.example/1', scrapeId: `s-${id}`, timings: { chunking: 0.5 } } }], metadata: {} });

/** Webhooks to the signed pipeline: [what, body, signature header (undefined: none; 'good': the right one), status, reason]. */
const badWebhooks: [string, string | Buffer, string | undefined, number, string][] = [
  ['no signature', JSON.stringify(page('a')), undefined, 401, 'bad_signature'],
  ['a malformed signature', JSON.stringify(page('a')), 'sha256=zz', 401, 'bad_signature'],
  ['a signature of another secret', JSON.stringify(page('a')), signBody(JSON.stringify(page('a')), 'other'), 401, 'bad_signature'],
  ['a signature with a header-injection tail', JSON.stringify(page('a')), `${signBody(JSON.stringify(page('a')), SECRET)}, X-Evil: 1`, 401, 'bad_signature'],
  ['a wrong signature on a body that is not JSON', '{"type":', signBody('something else', SECRET), 401, 'bad_signature'],
  ['a wrong signature on invalid UTF-8', Buffer.from([0xff, 0xfe]), signBody('x', SECRET), 401, 'bad_signature'],
  ['a signed body that is not JSON', '{"type":', 'good', 400, 'invalid_json'],
  ['a signed body with invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'good', 400, 'invalid_utf8'],
  ['a signed array', '[]', 'good', 400, 'invalid_event'],
  ['a signed body without an id', JSON.stringify({ ...page('a'), id: undefined }), 'good', 400, 'invalid_event'],
  ['a signed body with an id over 256 characters', JSON.stringify(page('x'.repeat(257))), 'good', 400, 'invalid_event'],
  ['success as a string', JSON.stringify({ ...page('a'), success: 'yes' }), 'good', 400, 'invalid_event'],
  ['data as an object', JSON.stringify({ ...page('a'), data: {} }), 'good', 400, 'invalid_event'],
  ['a bad initiated_at', JSON.stringify({ ...page('a'), metadata: { initiated_at: 'soon' } }), 'good', 400, 'invalid_event'],
  ['a type not mapped', JSON.stringify({ ...page('a'), type: 'batch_scrape.page' }), 'good', 200, 'unsupported_webhook_type'],
  ['"__proto__" as the type', JSON.stringify({ ...page('a'), type: '__proto__' }), 'good', 200, 'unsupported_webhook_type'],
];

describe('POST /v1/webhooks/firecrawl/{pipeline}: bad deliveries', () => {
  it.each(badWebhooks)('%s → %s, counted; a good delivery after it still lands', async (_what, body, sig, status, reason) => {
    tried++;
    const t = app();
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
    let req = t.http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').serialize(identity);
    if (sig !== undefined) req = req.set('X-Firecrawl-Signature', sig === 'good' ? signBody(raw, SECRET) : sig);
    await req.send(raw).expect(status);
    const okBody = JSON.stringify({ success: true, type: 'crawl.started', id: 'c-ok', webhookId: 'w-ok', data: [], metadata: {} });
    await t.http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').set('X-Firecrawl-Signature', signBody(okBody, SECRET)).send(okBody).expect(200, { accepted: true });
    const text = await exposition(t);
    expectCounted(text, 'firecrawl', reason, 1);
    expect(sampleLines(text, 'pipeline_jobs_in_progress{pipeline="crawl"}')).toEqual(['pipeline_jobs_in_progress{pipeline="crawl"} 1']);
  });

  it('an unsigned oversized body gets 401 before it is read, a signed one 413', async () => {
    tried += 2;
    const t = app();
    const big = Buffer.alloc(64 * 1024, 0x20);
    await t.http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').serialize(identity).send(big).expect(401);
    await t.http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').set('X-Firecrawl-Signature', signBody(big, SECRET)).serialize(identity).send(big).expect(413);
    const text = await exposition(t);
    expectCounted(text, 'firecrawl', 'bad_signature', 1);
    expectCounted(text, 'firecrawl', 'body_too_large', 1);
  });

  it('prototype keys in a signed delivery are plain data: the crawl starts, no prototype changes, initiated_at is not read through __proto__', async () => {
    tried++;
    const t = app();
    const body = `{"success":true,"type":"crawl.started","id":"c-1","data":[],"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"metadata":{"__proto__":{"initiated_at":"bogus"}}}`;
    await t.http.post('/v1/webhooks/firecrawl/crawl').set('Content-Type', 'application/json').set('X-Firecrawl-Signature', signBody(body, SECRET)).send(body).expect(200, { accepted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(t.sidecar.jobs.get('crawl', 'c-1')).toMatchObject({ pipeline: 'crawl', id: 'c-1', initiatedAt: undefined });
  });

  it.each([
    ['an unknown pipeline', '/v1/webhooks/firecrawl/nope', 404, 'unknown_pipeline'],
    ['a pipeline without firecrawl', '/v1/webhooks/firecrawl/__proto__', 404, 'unknown_pipeline'],
    ['"constructor" as the pipeline', '/v1/webhooks/firecrawl/constructor', 404, 'unknown_pipeline'],
  ])('%s → %s', async (_what, path, status, reason) => {
    tried++;
    const t = app();
    await t.http.post(path).set('Content-Type', 'application/json').send('{}').expect(status);
    expectCounted(await exposition(t), 'firecrawl', reason, 1);
  });

  it('the unsigned pipeline takes deliveries without a signature, and refuses a malformed one as JSON', async () => {
    tried += 2;
    const t = app();
    await t.http.post('/v1/webhooks/firecrawl/open').set('Content-Type', 'application/json').send(JSON.stringify(page('o'))).expect(200, { accepted: true });
    await t.http.post('/v1/webhooks/firecrawl/open').set('Content-Type', 'application/json').send('{').expect(400);
    expectCounted(await exposition(t), 'firecrawl', 'invalid_json', 1);
  });
});
