import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { lintedExpositions } from '../helpers/exposition.js';
import { fakeClock, makeSidecar, memoryFs, sampleLines } from './fixtures.js';

const lint = lintedExpositions();

describe('metrics listener', () => {
  it('/metrics answers text 0.0.4, or OpenMetrics when asked', async () => {
    const { sidecar } = makeSidecar('scrapers:\n  beatport: { item_types: [track] }\n');
    const text = await request(sidecar.metricsApp).get('/metrics').expect(200);
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text.text).toContain('scraper_items_created_total{scraper="beatport",item_type="track",source=""} 0\n');
    const om = await request(sidecar.metricsApp).get('/metrics').set('Accept', 'application/openmetrics-text; version=1.0.0').expect(200);
    expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.text.endsWith('# EOF\n')).toBe(true);
  });

  it.each([
    ['/healthz', '/readyz'],
    ['/-/healthy', '/-/ready'],
  ])('%s is ok; %s is 503 until start() loaded the state, 200 after, 503 again after stop()', async (healthy, ready) => {
    const { sidecar } = makeSidecar('');
    const http = request(sidecar.metricsApp);
    expect((await http.get(healthy).expect(200)).text).toBe('ok\n');
    expect((await http.get(ready).expect(503)).text).toBe('not ready: loading the state file\n');
    await sidecar.start();
    expect((await http.get(ready).expect(200)).text).toBe('ready\n');
    await sidecar.stop();
    await http.get(ready).expect(503);
  });

  it('/ is a landing page linking the three endpoints; other paths are 404', async () => {
    const { sidecar } = makeSidecar('');
    const res = await request(sidecar.metricsApp).get('/').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    for (const href of ['/metrics', '/healthz', '/readyz', '/-/healthy', '/-/ready']) expect(res.text).toContain(`<a href="${href}">`);
    await request(sidecar.metricsApp).get('/v1/events').expect(404);
  });

  it('the ingest routes are not on the metrics listener', async () => {
    const { sidecar } = makeSidecar('');
    await request(sidecar.metricsApp).post('/v1/events').send({}).expect(404);
  });
});

describe('state file', () => {
  const yaml = 'pipelines:\n  crawl:\n    firecrawl: true\nstate: { file: /var/st.json, snapshot_interval: 1s }\n';

  it('stop() writes the job table and dedup keys; a new sidecar restores them', async () => {
    const fs = memoryFs();
    const clock = fakeClock();
    const a = makeSidecar(yaml, { fs, clock });
    await a.sidecar.start();
    await request(a.sidecar.ingestApp).post('/v1/webhooks/firecrawl/crawl').send({ success: true, type: 'crawl.started', id: 'c-1', data: [] }).expect(200);
    await a.sidecar.stop();
    const saved = JSON.parse(fs.files.get('/var/st.json')!);
    expect(saved.jobs).toEqual([{ pipeline: 'crawl', id: 'c-1', createdAt: clock.now(), startedAt: clock.now() }]);
    expect([...fs.files.keys()]).toEqual(['/var/st.json']);

    clock.advance(300_000);
    const b = makeSidecar(yaml, { fs, clock });
    await b.sidecar.start();
    const http = request(b.sidecar.ingestApp);
    expect((await http.post('/v1/webhooks/firecrawl/crawl').send({ success: true, type: 'crawl.started', id: 'c-1', data: [] }).expect(200)).body).toEqual({ accepted: false, duplicate: true });
    await http.post('/v1/webhooks/firecrawl/crawl').send({ success: true, type: 'crawl.completed', id: 'c-1', data: [] }).expect(200);
    expect(sampleLines(await lint.text(b.sidecar.meter), 'pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"}')).toEqual(['pipeline_job_duration_seconds_sum{pipeline="crawl",outcome="completed"} 300']);
    await b.sidecar.stop();
  });

  it.each([
    ['not JSON', '{oops', /^pipemeter serve: warning: ignoring the state file: \/var\/st\.json: a member name was expected \(character 1\); it is not a pipemeter state file/],
    ['another version', '{"version":7,"jobs":[]}', /state version 7 is not 1/],
    ['a bad job record', '{"version":1,"jobs":[{"id":3}],"finished":[],"webhookKeys":[]}', /^pipemeter serve: warning: the state file \/var\/st\.json: dropped 1 of 1 job records \(1 invalid_event\); restored the rest/],
  ])('a corrupt file (%s) is one warning and an empty table; the sidecar serves', async (_what, content, warning) => {
    const fs = memoryFs({ '/var/st.json': content });
    const { sidecar, logs } = makeSidecar(yaml, { fs });
    await sidecar.start();
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(warning);
    expect(sidecar.jobs.size).toBe(0);
    await request(sidecar.metricsApp).get('/readyz').expect(200);
    await sidecar.stop();
  });

  it('a missing file is a first start, without a warning', async () => {
    const { sidecar, logs } = makeSidecar(yaml);
    await sidecar.start();
    expect(logs).toEqual([]);
    await sidecar.stop();
  });

  it('a failed write is logged and the sidecar keeps its table', async () => {
    const fs = memoryFs();
    fs.replaceStateFile = async () => {
      throw new Error('EROFS: read-only file system');
    };
    const { sidecar, logs } = makeSidecar(yaml, { fs });
    await sidecar.start();
    await sidecar.snapshot();
    await sidecar.stop();
    logs.pop();
    expect(logs).toEqual(['pipemeter serve: could not write the state file: EROFS: read-only file system; the job table stays in memory']);
  });
});

describe('sweeps', () => {
  it('jobs past job_ttl are abandoned when the sweep runs', async () => {
    const { sidecar, clock } = makeSidecar('limits: { job_ttl: 1h }\n');
    await request(sidecar.ingestApp).post('/v1/events').send({ type: 'job_started', pipeline: 'video', job_id: 'v' }).expect(200);
    clock.advance(3600_000);
    sidecar.sweep();
    expect(sampleLines(await lint.text(sidecar.meter), 'pipeline_jobs_finished_total{pipeline="video",outcome="abandoned"}', 'pipemeter_jobs_evicted_total')).toEqual([
      'pipeline_jobs_finished_total{pipeline="video",outcome="abandoned"} 1',
      'pipemeter_jobs_evicted_total{pipeline="video",reason="ttl"} 1',
    ]);
  });

  it('with series_ttl an idle series goes; a written one stays and never goes backwards', async () => {
    const { sidecar, clock } = makeSidecar('limits: { series_ttl: 1m }\n');
    const http = request(sidecar.ingestApp);
    const item = (source: string) => ({ type: 'item_created', scraper: 's', item_type: 't', source });
    await http.post('/v1/events').send([item('a.com'), item('b.com')]).expect(200);
    sidecar.sweep();
    clock.advance(30_000);
    await http.post('/v1/events').send(item('a.com')).expect(200);
    sidecar.sweep();
    // b.com was last written 75 s ago, a.com 45 s ago.
    clock.advance(45_000);
    sidecar.sweep();
    expect(sampleLines(await lint.text(sidecar.meter), 'scraper_items_created_total')).toEqual(['scraper_items_created_total{scraper="s",item_type="t",source="a.com"} 2']);
  });

  it('without series_ttl nothing expires', async () => {
    const { sidecar, clock } = makeSidecar('');
    await request(sidecar.ingestApp).post('/v1/events').send({ type: 'item_created', scraper: 's', item_type: 't', source: 'a.com' }).expect(200);
    sidecar.sweep();
    clock.advance(86_400_000 * 30);
    sidecar.sweep();
    expect(sampleLines(await sidecar.meter.metrics(), 'scraper_items_created_total')).toHaveLength(1);
  });
});
