import { describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { lintedExpositions } from '../helpers/exposition.js';

const expo = lintedExpositions();
const sampleLines = (text: string, family: string) =>
  text.split('\n').filter((l) => l.startsWith(family + '{') || l.startsWith(family + '_'));

describe('scraper handle', () => {
  it('starts declared item types and both run outcomes at 0', async () => {
    const m = createMeter({ defaultMetrics: false });
    m.scraper('beatport', { itemTypes: ['track', 'artist'], sources: ['https://www.beatport.com/'] });
    const text = await expo.text(m);
    expect(sampleLines(text, 'scraper_items_created_total')).toEqual([
      'scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"} 0',
      'scraper_items_created_total{scraper="beatport",item_type="artist",source="www.beatport.com"} 0',
    ]);
    expect(sampleLines(text, 'scraper_runs_total')).toEqual([
      'scraper_runs_total{scraper="beatport",outcome="success"} 0',
      'scraper_runs_total{scraper="beatport",outcome="failure"} 0',
    ]);
    expect(text).toContain('scraper_run_duration_seconds_count{scraper="beatport",outcome="failure"} 0');
    // No last-success series before the first success: a 0 would read as "last success in 1970".
    expect(text).not.toContain('scraper_last_success_timestamp_seconds{');
  });

  it('counts items by host and schema errors by type', async () => {
    const m = createMeter({ defaultMetrics: false });
    const s = m.scraper('mixesdb');
    s.itemCreated('track', 'https://www.mixesdb.com/w/2019-01-01_-_Set');
    s.itemCreated('track', 'https://www.mixesdb.com/w/other', 3);
    s.itemCreated('playlist', 'not a url');
    s.schemaError('validation', 'track');
    s.schemaError('http_error', 'track', 2);
    const text = await expo.text(m);
    expect(sampleLines(text, 'scraper_items_created_total')).toEqual([
      'scraper_items_created_total{scraper="mixesdb",item_type="track",source="www.mixesdb.com"} 4',
      'scraper_items_created_total{scraper="mixesdb",item_type="playlist",source="invalid"} 1',
    ]);
    expect(sampleLines(text, 'scraper_schema_errors_total')).toEqual([
      'scraper_schema_errors_total{scraper="mixesdb",item_type="track",error_type="validation"} 1',
      'scraper_schema_errors_total{scraper="mixesdb",item_type="track",error_type="http_error"} 2',
    ]);
  });

  it('records runs measured elsewhere with their end time', async () => {
    const m = createMeter({ defaultMetrics: false });
    const s = m.scraper('reddit');
    s.recordRun({ outcome: 'success', durationSeconds: 12.5, at: Date.UTC(2026, 0, 1) });
    s.recordRun({ outcome: 'failure', durationSeconds: 700 });
    const text = await expo.text(m);
    expect(sampleLines(text, 'scraper_last_success_timestamp_seconds')).toEqual([
      `scraper_last_success_timestamp_seconds{scraper="reddit"} ${Date.UTC(2026, 0, 1) / 1000}`,
    ]);
    expect(text).toContain('scraper_run_duration_seconds_bucket{scraper="reddit",outcome="success",le="10"} 0\n');
    expect(text).toContain('scraper_run_duration_seconds_bucket{scraper="reddit",outcome="success",le="30"} 1\n');
    expect(text).toContain('scraper_run_duration_seconds_sum{scraper="reddit",outcome="failure"} 700\n');
  });

  it('run() times the callback, sets last success on return, and counts a failure and rethrows on throw', async () => {
    const m = createMeter({ defaultMetrics: false });
    const s = m.scraper('youtube');
    const before = Date.now() / 1000;
    await expect(s.run(async () => 'ok')).resolves.toBe('ok');
    await expect(
      s.run(() => {
        throw new Error('403');
      }),
    ).rejects.toThrow('403');
    const text = await expo.text(m);
    expect(sampleLines(text, 'scraper_runs_total')).toEqual([
      'scraper_runs_total{scraper="youtube",outcome="success"} 1',
      'scraper_runs_total{scraper="youtube",outcome="failure"} 1',
    ]);
    const last = Number(/scraper_last_success_timestamp_seconds\{scraper="youtube"\} (\S+)/.exec(text)![1]);
    expect(last).toBeGreaterThanOrEqual(before);
    expect(last).toBeLessThanOrEqual(Date.now() / 1000);
  });

  it('returns the same handle for the same name', () => {
    const m = createMeter({ defaultMetrics: false });
    expect(m.scraper('a')).toBe(m.scraper('a'));
  });
});
