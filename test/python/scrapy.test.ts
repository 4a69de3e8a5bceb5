/**
 * A real Scrapy crawl of a local site through pipemeter.scrapy.PipemeterExtension into a real `pipemeter serve`:
 * items by type and host, schema errors (a dropped item, a callback that raised) and one run per spider land exactly.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Serve, describeWithPython, fixtures, key, runPython, sampleValues, startServe } from './helpers.js';

const pages: Record<string, string> = {
  '/': '<a href="/track/1">1</a> <a href="/track/2">2</a> <a href="/track/3">3</a> <a href="/artist/1">a</a> <a href="/track/broken">b</a> <a href="/about">?</a>',
  '/track/1': '<body data-kind="track"><h1>Strings of Life</h1></body>',
  '/track/2': '<body data-kind="track"><h1>Energy Flash</h1></body>',
  '/track/3': '<body data-kind="track"><h1>Windowlicker</h1></body>',
  '/track/broken': '<body data-kind="track"><p>no title here</p></body>',
  '/artist/1': '<body data-kind="artist"><h1>Derrick May</h1></body>',
  '/about': '<body><p>about</p></body>',
};

describeWithPython(['prometheus_client', 'scrapy'], [], 'Scrapy: a real crawl through the extension into a real sidecar', () => {
  let site: Server;
  let serve: Serve | undefined;
  let siteUrl = '';
  let before = 0;
  let metrics = new Map<string, number>();
  let crawl = { code: 0 as number | null, stderr: '' };

  beforeAll(async () => {
    site = createServer((req, res) => {
      const body = pages[req.url ?? ''];
      res.writeHead(body === undefined ? 404 : 200, { 'Content-Type': 'text/html' });
      res.end(body === undefined ? 'not found' : `<html>${body}</html>`);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    serve = await startServe();
    before = Date.now() / 1000;
    crawl = await runPython([`${fixtures}/scrapy_crawl.py`, siteUrl, serve.ingestUrl], { timeoutMs: 60_000 });
    metrics = sampleValues(await (await fetch(serve.metricsUrl)).text());
  }, 90_000);

  afterAll(async () => {
    await serve?.stop();
    site?.close();
  });

  it('the crawl finishes with exit 0', () => {
    expect(crawl.code, crawl.stderr).toBe(0);
  });

  it('items by type (Item class, item_type field) and by the host of the response', () => {
    const items = [...metrics].filter(([k]) => k.startsWith('scraper_items_created_total{'));
    expect(Object.fromEntries(items)).toEqual({
      [key('scraper_items_created_total', { scraper: 'shop', item_type: 'TrackItem', source: '127.0.0.1' })]: 3,
      [key('scraper_items_created_total', { scraper: 'shop', item_type: 'artist', source: '127.0.0.1' })]: 1,
    });
  });

  it('schema errors: the dropped item by its type, the callback that raised with no item', () => {
    const errors = [...metrics].filter(([k]) => k.startsWith('scraper_schema_errors_total{'));
    expect(Object.fromEntries(errors)).toEqual({
      [key('scraper_schema_errors_total', { scraper: 'shop', item_type: 'TrackItem', error_type: 'DropItem' })]: 1,
      [key('scraper_schema_errors_total', { scraper: 'shop', item_type: 'unknown', error_type: 'KeyError' })]: 1,
    });
  });

  it('one run per spider: success and last success for a clean finish, failure for a close reason', () => {
    const v = (name: string, labels: Record<string, string>) => metrics.get(key(name, labels));
    expect(v('scraper_runs_total', { scraper: 'shop', outcome: 'success' })).toBe(1);
    expect(v('scraper_runs_total', { scraper: 'shop', outcome: 'failure' })).toBe(0);
    expect(v('scraper_runs_total', { scraper: 'closer', outcome: 'success' })).toBe(0);
    expect(v('scraper_runs_total', { scraper: 'closer', outcome: 'failure' })).toBe(1);
    expect(v('scraper_run_duration_seconds_count', { scraper: 'shop', outcome: 'success' })).toBe(1);
    expect(v('scraper_run_duration_seconds_sum', { scraper: 'shop', outcome: 'success' })).toBeGreaterThan(0);
    const last = v('scraper_last_success_timestamp_seconds', { scraper: 'shop' })!;
    expect(last).toBeGreaterThanOrEqual(before);
    expect(last).toBeLessThanOrEqual(Date.now() / 1000);
    expect(v('scraper_last_success_timestamp_seconds', { scraper: 'closer' })).toBeUndefined();
  });

  it('in process (PIPEMETER_PORT): the crawl serves /metrics itself, with the same items, errors and runs', async () => {
    const inProcess = await runPython([`${fixtures}/scrapy_crawl.py`, siteUrl, 'in-process'], { timeoutMs: 60_000 });
    expect(inProcess.code, inProcess.stderr).toBe(0);
    const local = sampleValues(inProcess.stdout);
    const counted = (m: Map<string, number>) =>
      Object.fromEntries([...m].filter(([k]) => /^(scraper_items_created_total|scraper_schema_errors_total|scraper_runs_total|scraper_run_duration_seconds_count)\{/.test(k)));
    expect(counted(local)).toEqual(counted(metrics));
    expect(Object.keys(counted(local)).length).toBe(2 + 2 + 4 + 4);
    // Both spiders' meters started the catalog at once, so the in-process exposition has its own families too.
    expect(local.get(key('pipemeter_build_info', { version: '0.1.0' }))).toBe(1);
  }, 70_000);

  it('the sidecar refused nothing', () => {
    const rejected = [...metrics].filter(([k, n]) => k.startsWith('pipemeter_ingest_rejected_total{') && n > 0);
    expect(rejected).toEqual([]);
    expect(metrics.get(key('pipemeter_ingest_events_total', { source: 'events', outcome: 'accepted' }))).toBe(4 + 2 + 2);
  });
});
