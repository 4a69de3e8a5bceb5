import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { dedupKeys, parseFirecrawl, signBody, verifySignature } from '../../src/sidecar/firecrawl.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { makeSidecar, memoryFs, sampleLines } from './fixtures.js';

const lint = lintedExpositions();
const SECRET = 'fc-webhook-secret';
const STAGES = ['chunking', 'embedding', 'qdrant', 'bm25'];
/** The sidecar's clock in the unit tests of parseFirecrawl. */
const NOW = Date.parse('2024-05-01T12:05:00Z');
const CONFIG = `
pipelines:
  crawl:
    stages: [chunking, embedding, qdrant, bm25]
    firecrawl: { secret_file: /s/fc }
  open:
    firecrawl: true
  plain:
    stages: [x]
`;

function setup() {
  const t = makeSidecar(CONFIG, { fs: memoryFs({ '/s/fc': SECRET + '\n' }) });
  const http = request(t.sidecar.ingestApp);
  const post = (body: unknown, opts: { pipeline?: string; sign?: string | null } = {}) => {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.post(`/v1/webhooks/firecrawl/${opts.pipeline ?? 'crawl'}`).set('Content-Type', 'application/json');
    const sig = opts.sign === undefined ? signBody(raw, SECRET) : opts.sign;
    if (sig !== null) req.set('X-Firecrawl-Signature', sig);
    return req.send(raw);
  };
  return { ...t, post };
}

let n = 0;
const webhookId = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;

describe('verifySignature', () => {
  const body = Buffer.from('{"type":"crawl.started"}');
  it.each([
    ['the right signature', signBody(body, SECRET), true],
    ['upper-case hex', 'sha256=' + signBody(body, SECRET).slice('sha256='.length).toUpperCase(), true],
    ['another secret', signBody(body, 'other'), false],
    ['another body', signBody('{"type":"crawl.page"}', SECRET), false],
    ['no scheme', signBody(body, SECRET).slice('sha256='.length), false],
    ['a short digest', 'sha256=abcd', false],
    ['missing', undefined, false],
  ])('%s -> %s', (_what, header, want) => expect(verifySignature(body, header, SECRET)).toBe(want));
});

describe('parseFirecrawl', () => {
  it('reads a v1 page with timings from its metadata, only for declared stages', () => {
    const r = parseFirecrawl(
      {
        success: true,
        type: 'crawl.page',
        id: 'c-1',
        webhookId: 'w-1',
        data: [{ markdown: '# A', metadata: { sourceURL: 'https://e.com/a', url: 'https://e.com/a', statusCode: 200, scrapeId: 's-1', timings: { chunking: 0.25 }, embedding_seconds: '0.5', other_seconds: 9 } }],
        metadata: { initiated_at: '1714564800' },
      },
      STAGES,
      NOW,
    );
    expect(r).toEqual({
      ok: true,
      value: { type: 'crawl.page', success: true, id: 'c-1', webhookId: 'w-1', error: undefined, initiatedAt: 1714564800_000, pages: [{ scrapeId: 's-1', sourceURL: 'https://e.com/a', url: 'https://e.com/a', timings: { chunking: 0.25, embedding: 0.5 } }] },
    });
  });

  it('v0 sends jobId for id', () => {
    const r = parseFirecrawl({ success: true, type: 'crawl.completed', jobId: 'c-0', data: [] }, STAGES, NOW);
    expect(r.ok && r.value.id).toBe('c-0');
  });

  it.each([
    ['not an object', 'x', 'invalid_event', 'expected a JSON object {success, type, id, data, metadata}'],
    ['no type', { id: 'c' }, 'invalid_event', 'type: missing; a Firecrawl webhook always has a type such as "crawl.page"'],
    ['no id', { type: 'crawl.started' }, 'invalid_event', 'id: missing; the crawl id comes as "id" (v1, v2) or "jobId" (v0)'],
    ['success not boolean', { type: 'crawl.page', id: 'c', success: 'yes' }, 'invalid_event', 'success: expected true or false, got "yes"'],
    ['data not a list', { type: 'crawl.page', id: 'c', data: {} }, 'invalid_event', 'data: expected a list of documents'],
    ['bad initiated_at', { type: 'crawl.started', id: 'c', metadata: { initiated_at: 'soon' } }, 'invalid_event', 'metadata.initiated_at: expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got "soon"'],
    // Issue 19 item 1: 1e306 seconds is Infinity in milliseconds; issue 18 item 5: Date.now() sent as seconds.
    ['initiated_at of 1e306', { type: 'crawl.started', id: 'c', metadata: { initiated_at: 1e306 } }, 'implausible_time', "metadata.initiated_at: 1e+306 is a time after the year 275760, more than an hour after the sidecar's clock (2024-05-01T12:05:00.000Z); send the time the event happened, in seconds since the epoch or RFC 3339"],
    ['initiated_at in milliseconds', { type: 'crawl.started', id: 'c', metadata: { initiated_at: '1714564800000' } }, 'implausible_time', 'metadata.initiated_at: "1714564800000" looks like milliseconds since the epoch (2024-05-01T12:00:00.000Z); send seconds (1714564800) or RFC 3339'],
    ['a stage timing of 1e308 s', { type: 'crawl.page', id: 'c', data: [{ metadata: { timings: { chunking: 1e308 } } }] }, 'value_out_of_range', "data[].metadata: the chunking timing 1e+308 is over 9007199254740991 seconds, past which the stage histogram's sum is not exact and overflows to +Inf; send seconds"],
    ['a batch scrape event', { type: 'batch_scrape.page', id: 'b' }, 'unsupported_webhook_type', 'type: "batch_scrape.page" is not mapped; the adapter maps crawl.started, crawl.page, crawl.completed, crawl.failed, crawl.cancelled'],
  ])('%s', (_what, raw, reason, message) => expect(parseFirecrawl(raw, STAGES, NOW)).toEqual({ ok: false, reason, message }));
});

describe('dedupKeys: what identifies the same event', () => {
  const page = (meta: Record<string, string>, success = true) => {
    const r = parseFirecrawl({ success, type: 'crawl.page', id: 'c', data: [{ metadata: meta }] }, [], NOW);
    if (!r.ok) throw new Error(r.message);
    return dedupKeys('crawl', r.value);
  };
  it('a page by scrapeId, else sourceURL, and by outcome', () => {
    expect(page({ scrapeId: 's', sourceURL: 'u' })).toEqual(page({ scrapeId: 's', sourceURL: 'other' }));
    expect(page({ sourceURL: 'u' })).toEqual(page({ sourceURL: 'u' }));
    expect(page({ sourceURL: 'u' })).not.toEqual(page({ sourceURL: 'v' }));
    expect(page({ sourceURL: 'u' }, true)).not.toEqual(page({ sourceURL: 'u' }, false));
  });
  it('a page without identity has no event key', () => expect(page({})).toEqual([]));
});

describe('POST /v1/webhooks/firecrawl/:pipeline', () => {
  it('a crawl (started, pages ok and failed with timings, a re-sent page, completed) gives exactly these series', async () => {
    const { post, clock, sidecar } = setup();
    const meta = { initiated_at: '2024-05-01T11:59:55Z', pipeline: 'crawl' };
    const ok = async (body: object) => expect((await post(body).expect(200)).body).toEqual({ accepted: true });

    await ok({ success: true, type: 'crawl.started', id: 'crawl-1', webhookId: webhookId(), data: [], metadata: meta });
    clock.advance(10_000);
    await ok({
      success: true,
      type: 'crawl.page',
      id: 'crawl-1',
      webhookId: webhookId(),
      data: [{ markdown: '# A', metadata: { sourceURL: 'https://docs.example.com/a', url: 'https://docs.example.com/a', statusCode: 200, scrapeId: 's-1', timings: { chunking: 0.25, embedding: 0.75 } } }],
      metadata: meta,
    });
    clock.advance(10_000);
    const page2 = {
      success: true,
      type: 'crawl.page',
      id: 'crawl-1',
      data: [{ markdown: '# B', metadata: { sourceURL: 'https://docs.example.com/b', statusCode: 200, scrapeId: 's-2', chunking_seconds: '0.5', qdrant_seconds: 0.125, bm25_seconds: 0.0625, other_seconds: 9 } }],
      metadata: meta,
    };
    await ok({ ...page2, webhookId: webhookId() });
    const dup = await post({ ...page2, webhookId: webhookId() }).expect(200);
    expect(dup.body).toEqual({ accepted: false, duplicate: true });
    clock.advance(5_000);
    await ok({ success: false, type: 'crawl.page', id: 'crawl-1', webhookId: webhookId(), error: 'Request timed out', data: [{ metadata: { sourceURL: 'https://docs.example.com/c' } }], metadata: meta });
    clock.advance(95_000);
    await ok({ success: true, type: 'crawl.completed', id: 'crawl-1', webhookId: webhookId(), data: [], metadata: meta });

    const text = await lint.text(sidecar.meter);
    expect(
      sampleLines(
        text,
        'pipeline_jobs_started_total{pipeline="crawl"}',
        'pipeline_jobs_finished_total{pipeline="crawl",outcome="completed"}',
        'pipeline_jobs_in_progress{pipeline="crawl"}',
        'pipeline_job_duration_seconds_bucket{pipeline="crawl",outcome="completed",le="60"}',
        'pipeline_job_duration_seconds_bucket{pipeline="crawl",outcome="completed",le="120"}',
        'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"}',
        'pipeline_job_duration_seconds_count{pipeline="crawl",outcome="completed"}',
        'pipeline_job_e2e_duration_seconds_sum{pipeline="crawl",outcome="completed"}',
        'pipeline_stage_duration_seconds_sum{pipeline="crawl"',
        'pipeline_stage_duration_seconds_count{pipeline="crawl"',
        'pipeline_items_total',
        'pipemeter_jobs_tracked{pipeline="crawl"}',
        'pipemeter_webhook_duplicates_total{pipeline="crawl"}',
        'pipemeter_ingest_events_total{source="firecrawl"',
        'pipemeter_ingest_rejected_total',
      ),
    ).toEqual([
      'pipeline_jobs_started_total{pipeline="crawl"} 1',
      'pipeline_jobs_finished_total{pipeline="crawl",outcome="completed"} 1',
      'pipeline_jobs_in_progress{pipeline="crawl"} 0',
      'pipeline_job_duration_seconds_bucket{pipeline="crawl",outcome="completed",le="60"} 0',
      'pipeline_job_duration_seconds_bucket{pipeline="crawl",outcome="completed",le="120"} 1',
      'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"} 120',
      'pipeline_job_duration_seconds_count{pipeline="crawl",outcome="completed"} 1',
      'pipeline_job_e2e_duration_seconds_sum{pipeline="crawl",outcome="completed"} 125',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="chunking",outcome="success"} 0.75',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="chunking",outcome="success"} 2',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="chunking",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="chunking",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="embedding",outcome="success"} 0.75',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="embedding",outcome="success"} 1',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="embedding",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="embedding",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="qdrant",outcome="success"} 0.125',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="qdrant",outcome="success"} 1',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="qdrant",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="qdrant",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="bm25",outcome="success"} 0.0625',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="bm25",outcome="success"} 1',
      'pipeline_stage_duration_seconds_sum{pipeline="crawl",stage="bm25",outcome="failure"} 0',
      'pipeline_stage_duration_seconds_count{pipeline="crawl",stage="bm25",outcome="failure"} 0',
      'pipeline_items_total{pipeline="crawl",outcome="indexed"} 2',
      'pipeline_items_total{pipeline="crawl",outcome="failed"} 1',
      'pipemeter_ingest_events_total{source="firecrawl",outcome="accepted"} 5',
      'pipemeter_ingest_events_total{source="firecrawl",outcome="rejected"} 0',
      'pipemeter_webhook_duplicates_total{pipeline="crawl"} 1',
      'pipemeter_jobs_tracked{pipeline="crawl"} 0',
    ]);
    const om = await sidecar.meter.metrics({ openMetrics: true });
    expect(om).toMatch(/^pipeline_job_duration_seconds_bucket\{pipeline="crawl",outcome="completed",le="120"\} 1 # \{job_id="crawl-1"\} 120 \d+\.\d{3}$/m);
  });

  it.each([
    ['crawl.failed', 'failed'],
    ['crawl.cancelled', 'cancelled'],
  ])('%s finishes the crawl as %s', async (type, outcome) => {
    const { post, sidecar } = setup();
    await post({ success: true, type: 'crawl.started', id: 'c-9', webhookId: webhookId(), data: [] }).expect(200);
    await post({ success: false, type, id: 'c-9', webhookId: webhookId(), error: 'boom', data: [] }).expect(200);
    const text = await lint.text(sidecar.meter);
    expect(sampleLines(text, `pipeline_jobs_finished_total{pipeline="crawl",outcome="${outcome}"}`)).toEqual([`pipeline_jobs_finished_total{pipeline="crawl",outcome="${outcome}"} 1`]);
    if (outcome === 'failed') expect(sampleLines(text, 'pipeline_job_failures_total{pipeline="crawl",stage="crawl"}')).toEqual(['pipeline_job_failures_total{pipeline="crawl",stage="crawl"} 1']);
  });

  it.each([
    ['no signature', null],
    ['a signature with another secret', signBody('{}', 'wrong')],
    ['garbage', 'sha256=zz'],
  ])('%s is 401 and counted, checked before the body is parsed', async (_what, sign) => {
    const { post, sidecar } = setup();
    const res = await post('{not json', { sign }).expect(401);
    expect(res.body.error.code).toBe('E_SIGNATURE');
    expect(sampleLines(await lint.text(sidecar.meter), 'pipemeter_ingest_rejected_total')).toEqual(['pipemeter_ingest_rejected_total{source="firecrawl",reason="bad_signature"} 1']);
  });

  it('a pipeline without a secret accepts unsigned deliveries', async () => {
    const { post } = setup();
    const res = await post({ success: true, type: 'crawl.started', id: 'c', data: [] }, { pipeline: 'open', sign: null }).expect(200);
    expect(res.body).toEqual({ accepted: true });
  });

  it.each([['plain'], ['undeclared']])('pipeline %s without a firecrawl section is 404', async (pipeline) => {
    const { post, sidecar } = setup();
    const res = await post({ type: 'crawl.started', id: 'c' }, { pipeline }).expect(404);
    expect(res.body.error).toEqual({ code: 'E_UNKNOWN_PIPELINE', message: `pipeline "${pipeline}" does not take Firecrawl webhooks; declare it with "firecrawl:" under pipelines in the config` });
    expect(sampleLines(await lint.text(sidecar.meter), 'pipemeter_ingest_rejected_total')).toEqual(['pipemeter_ingest_rejected_total{source="firecrawl",reason="unknown_pipeline"} 1']);
  });

  it('a signed body that is not JSON is 400; an invalid payload is 400; an unmapped type is 200 and ignored', async () => {
    const { post, sidecar } = setup();
    expect((await post('{not json').expect(400)).body.error.code).toBe('E_INVALID_JSON');
    expect((await post({ type: 'crawl.page' }).expect(400)).body.error).toEqual({ code: 'E_WEBHOOK_INVALID', message: 'id: missing; the crawl id comes as "id" (v1, v2) or "jobId" (v0)' });
    const ignored = await post({ success: true, type: 'batch_scrape.completed', id: 'b', data: [] }).expect(200);
    expect(ignored.body.accepted).toBe(false);
    expect(sampleLines(await lint.text(sidecar.meter), 'pipemeter_ingest_rejected_total')).toEqual([
      'pipemeter_ingest_rejected_total{source="firecrawl",reason="invalid_json"} 1',
      'pipemeter_ingest_rejected_total{source="firecrawl",reason="invalid_event"} 1',
      'pipemeter_ingest_rejected_total{source="firecrawl",reason="unsupported_webhook_type"} 1',
    ]);
  });

  it('a retry that reuses the webhookId is a duplicate; pages without identity are never dropped', async () => {
    const { post, sidecar } = setup();
    const started = { success: true, type: 'crawl.started', id: 'c', webhookId: 'same', data: [] };
    await post(started).expect(200);
    expect((await post({ ...started, type: 'crawl.completed' }).expect(200)).body).toEqual({ accepted: false, duplicate: true });
    const anon = { success: true, type: 'crawl.page', id: 'c', data: [{ metadata: {} }] };
    await post({ ...anon, webhookId: webhookId() }).expect(200);
    await post({ ...anon, webhookId: webhookId() }).expect(200);
    expect(sampleLines(await lint.text(sidecar.meter), 'pipeline_items_total', 'pipemeter_webhook_duplicates_total{pipeline="crawl"}')).toEqual([
      'pipeline_items_total{pipeline="crawl",outcome="indexed"} 2',
      'pipemeter_webhook_duplicates_total{pipeline="crawl"} 1',
    ]);
  });

  it('a missing secret file fails at creation', () => {
    expect(() => makeSidecar(CONFIG, { fs: memoryFs() })).toThrow(/^test\.yaml: pipelines\.crawl\.firecrawl\.secret_file: cannot read "\/s\/fc"/);
  });
});
