import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { lintedExpositions } from '../helpers/exposition.js';
import { makeSidecar, memoryFs, sampleLines } from './fixtures.js';

const lint = lintedExpositions();

const CONFIG = `
scrapers:
  beatport: { item_types: [track], sources: [www.beatport.com] }
pipelines:
  video: { stages: [transcription] }
families:
  - { name: crawl_embedding_tokens_total, type: counter, help: Tokens embedded., labels: [model] }
  - { name: worker_busy, type: gauge, help: Busy workers. }
  - { name: image_size_bytes, type: histogram, help: Image sizes., buckets: [1000, 10000] }
limits: { body_size: 2KiB }
`;

const item = { type: 'item_created', scraper: 'beatport', item_type: 'track', source: 'https://www.beatport.com/track/x/1' };

function app(yaml = CONFIG, files: Record<string, string> = {}) {
  const t = makeSidecar(yaml, { fs: memoryFs(files) });
  return { ...t, http: request(t.sidecar.ingestApp) };
}

describe('POST /v1/events', () => {
  it('one JSON event', async () => {
    const { http, sidecar } = app();
    const res = await http.post('/v1/events').send(item).expect(200);
    expect(res.body).toEqual({ accepted: 1, rejected: [] });
    const text = await lint.text(sidecar.meter);
    expect(sampleLines(text, 'scraper_items_created_total')).toEqual(['scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"} 1']);
    expect(sampleLines(text, 'pipemeter_ingest_events_total{source="events"')).toEqual([
      'pipemeter_ingest_events_total{source="events",outcome="accepted"} 1',
      'pipemeter_ingest_events_total{source="events",outcome="rejected"} 0',
    ]);
  });

  it('a JSON array applies item by item: the bad one is listed, its neighbours kept', async () => {
    const { http, sidecar } = app();
    const res = await http
      .post('/v1/events')
      .send([item, { type: 'items', pipeline: 'crawl', outcome: 'indexed', count: 'three' }, { ...item, count: 2 }])
      .expect(200);
    expect(res.body).toEqual({ accepted: 2, rejected: [{ index: 1, code: 'invalid_event', reason: 'count: expected a whole number >= 0, got "three"' }] });
    const text = await lint.text(sidecar.meter);
    expect(sampleLines(text, 'scraper_items_created_total')).toEqual(['scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"} 3']);
    expect(sampleLines(text, 'pipemeter_ingest_rejected_total')).toEqual(['pipemeter_ingest_rejected_total{source="events",reason="invalid_event"} 1']);
  });

  it('NDJSON: indexes are line numbers; a line that is not JSON is refused alone', async () => {
    const { http, sidecar } = app();
    const body = [JSON.stringify(item), '', '{"type":', JSON.stringify({ type: 'scraper_run', scraper: 'beatport', outcome: 'failure', duration_seconds: 3 }), ''].join('\n');
    const res = await http.post('/v1/events').set('Content-Type', 'application/x-ndjson').send(body).expect(200);
    expect(res.body.accepted).toBe(2);
    expect(res.body.rejected).toHaveLength(1);
    expect(res.body.rejected[0]).toMatchObject({ index: 2, code: 'invalid_json' });
    expect(res.body.rejected[0].reason).toMatch(/^line 3 is not JSON/);
    const text = await lint.text(sidecar.meter);
    expect(sampleLines(text, 'scraper_runs_total')).toEqual(['scraper_runs_total{scraper="beatport",outcome="success"} 0', 'scraper_runs_total{scraper="beatport",outcome="failure"} 1']);
  });

  it('a job lifecycle, stage and custom families of every type', async () => {
    const { http, sidecar } = app();
    const events = [
      { type: 'job_queued', pipeline: 'video', job_id: 'v-1', at: '2024-05-01T12:00:00Z' },
      { type: 'job_started', pipeline: 'video', job_id: 'v-1', at: '2024-05-01T12:00:30Z' },
      { type: 'stage', pipeline: 'video', job_id: 'v-1', stage: 'transcription', duration_seconds: 41.2 },
      { type: 'job_finished', pipeline: 'video', job_id: 'v-1', outcome: 'completed', media_seconds: 312, at: '2024-05-01T12:02:06Z', initiated_at: '2024-05-01T11:59:50Z' },
      { type: 'items', pipeline: 'crawl', outcome: 'indexed', count: 3 },
      { type: 'metric', name: 'crawl_embedding_tokens_total', labels: { model: 'bge' }, value: 1200 },
      { type: 'metric', name: 'worker_busy', value: 4 },
      { type: 'metric', name: 'image_size_bytes', value: 5000 },
    ];
    expect((await http.post('/v1/events').send(events).expect(200)).body).toEqual({ accepted: 8, rejected: [] });
    const text = await lint.text(sidecar.meter);
    expect(
      sampleLines(
        text,
        'pipeline_queue_wait_seconds_sum',
        'pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"}',
        'pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"}',
        'pipeline_items_total',
        'crawl_embedding_tokens_total',
        'worker_busy',
        'image_size_bytes_bucket',
      ),
    ).toEqual([
      'pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"} 96',
      'pipeline_job_e2e_duration_seconds_sum{pipeline="video",outcome="completed"} 136',
      'pipeline_queue_wait_seconds_sum{pipeline="video"} 30',
      // The items event made the crawl pipeline's handle, which starts its queue wait at 0.
      'pipeline_queue_wait_seconds_sum{pipeline="crawl"} 0',
      'pipeline_items_total{pipeline="crawl",outcome="indexed"} 3',
      'crawl_embedding_tokens_total{model="bge"} 1200',
      'worker_busy 4',
      'image_size_bytes_bucket{le="1000"} 0',
      'image_size_bytes_bucket{le="10000"} 1',
      'image_size_bytes_bucket{le="+Inf"} 1',
    ]);
  });

  it('every event refused: 400 with the list, and each refusal counted by reason', async () => {
    const { http, sidecar } = app();
    const res = await http.post('/v1/events').send([{ type: 'nope' }, { type: 'metric', name: 'undeclared_total' }]).expect(400);
    expect(res.body.error.code).toBe('E_EVENTS_REJECTED');
    expect(res.body.error.message).toMatch(/^no event was accepted; first problem \(index 0\): type: expected one of/);
    expect(res.body.error.details.accepted).toBe(0);
    expect(res.body.error.details.rejected.map((r: { code: string }) => r.code)).toEqual(['unknown_type', 'unknown_family']);
    expect(sampleLines(await lint.text(sidecar.meter), 'pipemeter_ingest_rejected_total')).toEqual([
      'pipemeter_ingest_rejected_total{source="events",reason="unknown_type"} 1',
      'pipemeter_ingest_rejected_total{source="events",reason="unknown_family"} 1',
    ]);
  });

  it('an empty array is fine', async () => {
    expect((await app().http.post('/v1/events').send([]).expect(200)).body).toEqual({ accepted: 0, rejected: [] });
  });

  it('a gzip body is read', async () => {
    const { http } = app();
    const res = await http.post('/v1/events').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').serialize((b: unknown) => b as string).send(gzipSync(JSON.stringify([item, item])));
    expect(res.body).toEqual({ accepted: 2, rejected: [] });
  });

  it.each([
    ['text/plain', 'hello', 415, 'E_MEDIA_TYPE', 'unsupported_media_type'],
    ['application/x-www-form-urlencoded', 'a=1', 415, 'E_MEDIA_TYPE', 'unsupported_media_type'],
    ['application/json', '{"type":', 400, 'E_INVALID_JSON', 'invalid_json'],
    ['application/json', '', 400, 'E_INVALID_JSON', 'invalid_json'],
    ['application/json', JSON.stringify(Array(40).fill(item)), 413, 'E_BODY_TOO_LARGE', 'body_too_large'],
  ])('%s %j -> %i %s', async (type, body, status, code, reason) => {
    const { http, sidecar } = app();
    const res = await http.post('/v1/events').set('Content-Type', type).send(body).expect(status);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(sampleLines(await lint.text(sidecar.meter), 'pipemeter_ingest_rejected_total')).toEqual([`pipemeter_ingest_rejected_total{source="events",reason="${reason}"} 1`]);
  });

  it('GET /v1/events is 405, unknown paths 404, both JSON errors', async () => {
    const { http } = app();
    const a = await http.get('/v1/events').expect(405);
    expect(a.headers.allow).toBe('POST');
    expect(a.body.error.code).toBe('E_METHOD');
    const b = await http.post('/v2/events').send(item).expect(404);
    expect(b.body.error).toEqual({ code: 'E_NOT_FOUND', message: 'no route POST /v2/events; the ingest API is POST /v1/events and POST /v1/webhooks/firecrawl/{pipeline}' });
  });
});

describe('Bearer token from token_file', () => {
  const yaml = 'listeners:\n  ingest: { token_file: /secrets/tok }\n';
  const files = { '/secrets/tok': 's3cret-token\n' };

  it.each([
    ['no header', undefined, 401],
    ['a wrong token', 'Bearer nope', 401],
    ['another scheme', 'Basic czNjcmV0LXRva2Vu', 401],
    ['the token (the file\'s trailing newline ignored)', 'Bearer s3cret-token', 200],
  ])('%s -> %i', async (_what, auth, status) => {
    const { http, sidecar } = app(yaml, files);
    const req = http.post('/v1/events');
    if (auth !== undefined) req.set('Authorization', auth);
    const res = await req.send(item).expect(status);
    if (status === 401) {
      expect(res.body.error.code).toBe('E_UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="pipemeter ingest"');
      expect(sampleLines(await lint.text(sidecar.meter), 'pipemeter_ingest_rejected_total')).toEqual(['pipemeter_ingest_rejected_total{source="events",reason="unauthorized"} 1']);
    }
  });

  it('scraping /metrics never needs the token', async () => {
    const { sidecar } = app(yaml, files);
    await request(sidecar.metricsApp).get('/metrics').expect(200);
  });

  it('a missing token file fails at creation with E_SECRET', () => {
    expect(() => app(yaml, {})).toThrow(/^test\.yaml: listeners\.ingest\.token_file: cannot read "\/secrets\/tok"/);
  });

  it('an empty token file fails at creation', () => {
    expect(() => app(yaml, { '/secrets/tok': '\n' })).toThrow('test.yaml: listeners.ingest.token_file: "/secrets/tok" is empty; put the secret in it');
  });
});
