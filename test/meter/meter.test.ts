import { Counter as PromCounter } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { PipemeterError, createMeter } from '../../src/index.js';
import { lintedExpositions } from '../helpers/exposition.js';

const expo = lintedExpositions();

/** samples returns the sample lines (no comments) of one family, in order. */
function samples(text: string, family: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(family + '{') || l.startsWith(family + ' ') || l.startsWith(family + '_'));
}

const quiet = () => createMeter({ service: 'test', defaultMetrics: false, logger: () => {} });

describe('custom families', () => {
  it('records by label values and through a bound handle, with exact exposition lines', async () => {
    const m = quiet();
    const hits = m.counter({ name: 'cache_hits_total', help: 'Cache lookups.', labels: ['cache', 'result'] });
    hits.inc({ cache: 'pages', result: 'hit' });
    hits.inc({ cache: 'pages', result: 'hit' }, 2);
    const miss = hits.labels({ cache: 'pages', result: 'miss' });
    miss.inc();
    expect(hits.labels({ cache: 'pages', result: 'miss' })).toBe(miss);
    const text = await expo.text(m);
    expect(text).toContain('# HELP cache_hits_total Cache lookups.\n# TYPE cache_hits_total counter\n');
    expect(samples(text, 'cache_hits_total')).toEqual([
      'cache_hits_total{cache="pages",result="hit"} 3',
      'cache_hits_total{cache="pages",result="miss"} 1',
    ]);
  });

  it('renders gauges and histograms with cumulative buckets, sum and count', async () => {
    const m = quiet();
    const depth = m.gauge({ name: 'work_queue_depth', help: 'Queued work.', labels: ['queue'] });
    depth.set({ queue: 'a' }, 5);
    depth.inc({ queue: 'a' }, 2);
    depth.dec({ queue: 'a' });
    const h = m.histogram({ name: 'fetch_duration_seconds', help: 'Fetch time.', labels: ['site'], buckets: [0.1, 1, 10] });
    for (const v of [0.05, 0.1, 0.5, 5, 50]) h.observe({ site: 'x' }, v);
    const text = await expo.text(m);
    expect(samples(text, 'work_queue_depth')).toEqual(['work_queue_depth{queue="a"} 6']);
    expect(samples(text, 'fetch_duration_seconds')).toEqual([
      'fetch_duration_seconds_bucket{site="x",le="0.1"} 2',
      'fetch_duration_seconds_bucket{site="x",le="1"} 3',
      'fetch_duration_seconds_bucket{site="x",le="10"} 4',
      'fetch_duration_seconds_bucket{site="x",le="+Inf"} 5',
      'fetch_duration_seconds_sum{site="x"} 55.65',
      'fetch_duration_seconds_count{site="x"} 5',
    ]);
  });

  it('escapes label values: backslash, quote and newline', async () => {
    const m = quiet();
    const c = m.counter({ name: 'odd_total', help: 'Odd values.', labels: ['v'] });
    c.inc({ v: 'a\\b"c\nd' });
    expect(samples(await expo.text(m), 'odd_total')).toEqual(['odd_total{v="a\\\\b\\"c\\nd"} 1']);
  });

  it.each([
    ['job_id', /looks like an id/],
    ['crawl_id', /looks like an id/],
    ['url', /looks like an id/],
    ['uuid', /looks like an id/],
    ['email', /looks like an id/],
    ['timestamp', /looks like an id/],
    ['__name', /not valid/],
    ['1abc', /not valid/],
  ])('refuses the label name %s with a message that says the fix', (label, message) => {
    const m = quiet();
    expect(() => m.counter({ name: 'x_total', help: 'X.', labels: [label] })).toThrow(message);
  });

  it.each([
    [{ name: 'requests', help: 'R.' }, /end in "_total"; name it "requests_total"/],
    [{ name: 'bad-name_total', help: 'R.' }, /not valid/],
    [{ name: 'ok_total', help: '' }, /help is empty/],
    [{ name: 'ok_total', help: 'R.', labels: ['a', 'a'] }, /listed twice/],
  ])('refuses counter %j', (def, message) => {
    expect(() => quiet().counter(def as never)).toThrow(message);
  });

  it.each([
    [[], /buckets must be/],
    [[1, 1], /buckets must be/],
    [[2, 1], /buckets must be/],
    [[1, Infinity], /buckets must be/],
  ])('refuses histogram buckets %j', (buckets, message) => {
    expect(() => quiet().histogram({ name: 'h_seconds', help: 'H.', buckets })).toThrow(message);
  });

  it('refuses a histogram without buckets, saying they are required and how to give them (there is no default layout)', () => {
    // JavaScript callers (or a cast) can leave out what the type requires.
    const declare = () => quiet().histogram({ name: 'fetch_seconds', help: 'Fetch time.', labels: ['site'] } as never);
    expect(declare).toThrow(expect.objectContaining({ code: 'E_FAMILY_BUCKETS' }));
    expect(declare).toThrow(
      'histogram "fetch_seconds": buckets are required: give the upper bounds in the family\'s unit, in increasing order, e.g. buckets: [0.1, 0.5, 1, 5], ' +
        'or a layout of the catalog such as catalog.stageSeconds (10 ms .. 1 h) or catalog.jobSeconds (1 s .. 4 h)',
    );
  });

  it('refuses le as a histogram label', () => {
    expect(() => quiet().histogram({ name: 'h_seconds', help: 'H.', labels: ['le'], buckets: [1] })).toThrow(/reserved/);
  });

  it('names both owners of a duplicate family', () => {
    const m = quiet();
    m.counter({ name: 'dup_total', help: 'D.' });
    expect(() => m.counter({ name: 'dup_total', help: 'D.' })).toThrow(/already registered by meter\.counter\(\); a second registration came from meter\.counter\(\)/);
    expect(() => m.gauge({ name: 'scraper_jobs_in_progress', help: 'D.' })).not.toThrow();
    expect(() => m.gauge({ name: 'pipeline_queue_depth', help: 'D.' })).toThrow(/already registered by the pipemeter catalog; a second registration came from meter\.gauge\(\)/);
    try {
      m.counter({ name: 'dup_total', help: 'D.' });
    } catch (err) {
      expect(err).toBeInstanceOf(PipemeterError);
      expect((err as PipemeterError).code).toBe('E_FAMILY_DUPLICATE');
    }
  });

  it('refuses a prom-client metric whose name a pipemeter family has, and the reverse', () => {
    const m = quiet();
    expect(() => new PromCounter({ name: 'scraper_runs_total', help: 'x', registers: [m.registry] })).toThrow(/already registered by the pipemeter catalog/);
    new PromCounter({ name: 'legacy_total', help: 'x', registers: [m.registry] });
    expect(() => m.counter({ name: 'legacy_total', help: 'L.' })).toThrow(/already registered by meter\.registry/);
  });

  it('keeps two meters in one process apart', async () => {
    const a = quiet();
    const b = quiet();
    a.counter({ name: 'same_total', help: 'S.' }).inc({});
    b.counter({ name: 'same_total', help: 'S.' });
    expect(samples(await expo.text(a), 'same_total')).toEqual(['same_total 1']);
    expect(samples(await expo.text(b), 'same_total')).toEqual(['same_total 0']);
  });
});

describe('zero', () => {
  it('starts a series at 0 without a handle, pinned against expiry; past the cap it does nothing and counts nothing', async () => {
    const m = createMeter({ service: 'test', defaultMetrics: false, logger: () => {}, maxSeries: 2 });
    const c = m.counter({ name: 'jobs_total', help: 'Jobs.', labels: ['queue'] });
    c.zero({ queue: 'a' });
    c.zero({ queue: 'b' });
    c.zero({ queue: 'c' });
    m.expireIdle(0, Date.now() + 1);
    const text = await expo.text(m);
    expect(samples(text, 'jobs_total')).toEqual(['jobs_total{queue="a"} 0', 'jobs_total{queue="b"} 0']);
    expect(text).toContain('pipemeter_series_overflow_total{metric="jobs_total"} 0\n');
    c.zero({ queue: 5 as unknown as string });
    expect(await m.metrics()).toContain('pipemeter_instrumentation_errors_total{reason="invalid_labels"} 1\n');
  });
});

describe('series cap', () => {
  it('folds new label sets past the cap into one overflow series that keeps the sum, and counts them', async () => {
    const m = quiet();
    const c = m.counter({ name: 'pages_total', help: 'Pages.', labels: ['site', 'kind'], maxSeries: 2 });
    c.inc({ site: 'a', kind: 'x' });
    c.inc({ site: 'b', kind: 'x' });
    c.inc({ site: 'c', kind: 'x' }, 5);
    c.inc({ site: 'd', kind: 'y' }, 7);
    c.inc({ site: 'a', kind: 'x' }); // existing series still counts in place
    const text = await expo.text(m);
    expect(samples(text, 'pages_total')).toEqual([
      'pages_total{site="a",kind="x"} 2',
      'pages_total{site="b",kind="x"} 1',
      'pages_total{site="__overflow__",kind="__overflow__"} 12',
    ]);
    const overflow = samples(text, 'pipemeter_series_overflow_total');
    expect(overflow.filter((l) => !l.endsWith(' 0'))).toEqual(['pipemeter_series_overflow_total{metric="pages_total"} 2']);
    // Every family but pipemeter's own has its overflow counter from the start, at 0.
    expect(overflow).toContain('pipemeter_series_overflow_total{metric="scraper_items_created_total"} 0');
    for (const own of ['pipemeter_series_overflow_total', 'pipemeter_instrumentation_errors_total', 'pipemeter_build_info']) {
      expect(overflow.some((l) => l.includes(`metric="${own}"`))).toBe(false);
    }
  });

  it('takes the per-meter cap and the per-family override for catalog families', async () => {
    const m = createMeter({ defaultMetrics: false, maxSeries: 1, families: { scraper_schema_errors_total: { maxSeries: 3 } } });
    const s = m.scraper('s');
    for (const t of ['a', 'b', 'c']) {
      s.itemCreated(t, 'x.org');
      s.schemaError('validation', t);
    }
    const text = await expo.text(m);
    expect(samples(text, 'scraper_items_created_total')).toHaveLength(2);
    expect(samples(text, 'scraper_schema_errors_total')).toHaveLength(3);
  });
});

describe('never throws into the caller', () => {
  it.each([
    ['NaN increment', (c: ReturnType<typeof counter>) => c.inc({ k: 'a' }, NaN), 'invalid_value'],
    ['Infinity increment', (c: ReturnType<typeof counter>) => c.inc({ k: 'a' }, Infinity), 'invalid_value'],
    ['string increment', (c: ReturnType<typeof counter>) => c.inc({ k: 'a' }, '5' as never), 'invalid_value'],
    ['negative increment', (c: ReturnType<typeof counter>) => c.inc({ k: 'a' }, -1), 'negative_increment'],
    ['bound negative increment', (c: ReturnType<typeof counter>) => c.labels({ k: 'a' }).inc(-2), 'negative_increment'],
    ['missing label', (c: ReturnType<typeof counter>) => c.inc({} as never), 'invalid_labels'],
    ['numeric label value', (c: ReturnType<typeof counter>) => c.inc({ k: 5 } as never), 'invalid_labels'],
    ['no labels object', (c: ReturnType<typeof counter>) => c.inc(undefined as never), 'invalid_labels'],
    ['bound with bad labels', (c: ReturnType<typeof counter>) => c.labels({} as never).inc(), 'invalid_labels'],
  ])('%s is ignored and counted as %s', async (_name, call, reason) => {
    const logs: string[] = [];
    const m = createMeter({ defaultMetrics: false, logger: (l) => logs.push(l) });
    const c = counter(m);
    expect(() => call(c)).not.toThrow();
    expect(() => call(c)).not.toThrow();
    const text = await expo.text(m);
    expect(samples(text, 'pipemeter_instrumentation_errors_total')).toContain(`pipemeter_instrumentation_errors_total{reason="${reason}"} 2`);
    expect(samples(text, 'bad_total').filter((l) => !l.endsWith(' 0'))).toEqual([]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain(reason);
  });

  it('ignores NaN and infinite observations and gauge values', async () => {
    const m = quiet();
    const h = m.histogram({ name: 'h_seconds', help: 'H.', buckets: [1] });
    const g = m.gauge({ name: 'g_bytes', help: 'G.' });
    h.observe({}, NaN);
    h.observe({}, -Infinity);
    g.set({}, NaN);
    g.inc({}, Infinity);
    const text = await expo.text(m);
    expect(samples(text, 'h_seconds')).toContain('h_seconds_count 0');
    expect(samples(text, 'g_bytes')).toEqual(['g_bytes 0']);
    expect(samples(text, 'pipemeter_instrumentation_errors_total')).toContain('pipemeter_instrumentation_errors_total{reason="invalid_value"} 4');
  });
});

describe('values that would overflow to +Inf (issue 19 item 8)', () => {
  it('a counter sent 1e308 twice keeps the first and refuses the second: a counter is never +Inf', async () => {
    const m = quiet();
    const c = m.counter({ name: 'big_total', help: 'Big.' });
    c.inc({}, 1e308);
    c.inc({}, 1e308);
    c.labels({}).inc(1e308);
    const text = await expo.text(m);
    expect(samples(text, 'big_total')).toEqual(['big_total 1e+308']);
    expect(text).toContain('pipemeter_instrumentation_errors_total{reason="invalid_value"} 2\n');
    expect(text).not.toContain('Infinity');
  });

  it('a histogram whose sum would reach +Inf refuses the observation; a gauge move that would overflow is refused', async () => {
    const m = quiet();
    const h = m.histogram({ name: 'dur_seconds', help: 'D.', buckets: [1] });
    h.observe({}, 1e308);
    h.observe({}, 1e308);
    const g = m.gauge({ name: 'level_bytes', help: 'L.' });
    g.set({}, 1e308);
    g.inc({}, 1e308);
    const text = await expo.text(m);
    expect(samples(text, 'dur_seconds')).toEqual(['dur_seconds_bucket{le="1"} 0', 'dur_seconds_bucket{le="+Inf"} 1', 'dur_seconds_sum 1e+308', 'dur_seconds_count 1']);
    expect(samples(text, 'level_bytes')).toEqual(['level_bytes 1e+308']);
    expect(text).toContain('pipemeter_instrumentation_errors_total{reason="invalid_value"} 2\n');
  });

  it('a gauge set to an infinity is rendered +Inf and -Inf, in both formats', async () => {
    const m = quiet();
    const g = m.gauge({ name: 'limit_bytes', help: 'L.', labels: ['k'] });
    g.set({ k: 'up' }, Infinity);
    g.set({ k: 'down' }, -Infinity);
    for (const text of [await expo.text(m), await m.metrics({ openMetrics: true })]) {
      expect(samples(text, 'limit_bytes')).toEqual(['limit_bytes{k="up"} +Inf', 'limit_bytes{k="down"} -Inf']);
    }
  });
});

describe('scraper and pipeline handles are bounded (issue 19 item 2)', () => {
  it('past maxScrapers a new name gets the folded handle: its writes land in the overflow series, each counted; known names keep theirs', async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {}, maxScrapers: 2 });
    m.scraper('a').itemCreated('track', 'x.org');
    m.scraper('b').itemCreated('track', 'x.org');
    for (let i = 0; i < 1000; i++) m.scraper(`s-${i}`).itemCreated('track', 'x.org');
    m.scraper('a').itemCreated('track', 'x.org');
    expect(m.handles).toEqual({ scrapers: 2, pipelines: 0 });
    expect(m.scraper('s-1')).toBe(m.scraper('s-999'));
    expect(m.scraper('s-1')).toMatchObject({ name: '__overflow__', folded: true });
    const text = await expo.text(m);
    expect(samples(text, 'scraper_items_created_total')).toEqual([
      'scraper_items_created_total{scraper="a",item_type="track",source="x.org"} 2',
      'scraper_items_created_total{scraper="b",item_type="track",source="x.org"} 1',
      'scraper_items_created_total{scraper="__overflow__",item_type="__overflow__",source="__overflow__"} 1000',
    ]);
    expect(text).toContain('pipemeter_series_overflow_total{metric="scraper_items_created_total"} 1000\n');
  });

  it('binding a handle past a series cap counts no fold: 1 000 folded scrapers that never ran count 0 (scraper_runs_total counted 1 990 000)', async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {}, maxSeries: 10, maxScrapers: 5000 });
    for (let i = 0; i < 1000; i++) m.scraper(`s-${i}`);
    let text = await expo.text(m);
    expect(text).toContain('pipemeter_series_overflow_total{metric="scraper_runs_total"} 0\n');
    expect(text).toContain('pipemeter_series_overflow_total{metric="scraper_run_duration_seconds"} 0\n');
    // A run of a scraper whose series were folded is a write into the overflow series: one fold each.
    m.scraper('s-999').recordRun({ outcome: 'success', durationSeconds: 1 });
    m.scraper('s-998').recordRun({ outcome: 'failure' });
    text = await expo.text(m);
    expect(text).toContain('pipemeter_series_overflow_total{metric="scraper_runs_total"} 2\n');
    expect(samples(text, 'scraper_runs_total').filter((l) => l.includes('__overflow__'))).toEqual(['scraper_runs_total{scraper="__overflow__",outcome="__overflow__"} 2']);
  });

  it('past maxPipelines a new name gets the folded pipeline: jobs, stages and items land in the overflow series, counted', async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {}, maxPipelines: 1 });
    m.pipeline('video').items('indexed', 3);
    for (let i = 0; i < 100; i++) {
      const p = m.pipeline(`p-${i}`);
      p.items('indexed', 2);
      p.recordStage('download', 1.5, 'success');
    }
    expect(m.handles).toEqual({ scrapers: 0, pipelines: 1 });
    const text = await expo.text(m);
    expect(samples(text, 'pipeline_items_total')).toEqual(['pipeline_items_total{pipeline="video",outcome="indexed"} 3', 'pipeline_items_total{pipeline="__overflow__",outcome="__overflow__"} 200']);
    expect(samples(text, 'pipeline_stage_duration_seconds_count')).toContain('pipeline_stage_duration_seconds_count{pipeline="__overflow__",stage="__overflow__",outcome="__overflow__"} 100');
    expect(text).toContain('pipemeter_series_overflow_total{metric="pipeline_items_total"} 100\n');
    expect(text).toContain('pipemeter_series_overflow_total{metric="pipeline_stage_duration_seconds"} 100\n');
  });

  it('a meter with 200 000 scraper names holds 1 000 handles: the heap does not grow with the names', async () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {} });
    for (let i = 0; i < 200_000; i++) m.scraper(`scraper-${i}`).itemCreated('track', 'x.org');
    expect(m.handles.scrapers).toBe(1000);
    expect(await m.metrics()).toContain('pipemeter_series_overflow_total{metric="scraper_items_created_total"} 199000\n');
  });
});

function counter(m: ReturnType<typeof createMeter>) {
  return m.counter({ name: 'bad_total', help: 'Bad calls land nowhere.', labels: ['k'] });
}

describe('self families', () => {
  it('exposes build info and starts every instrumentation error reason at 0', async () => {
    const text = await expo.text(quiet());
    expect(text).toMatch(/^pipemeter_build_info\{version="\d+\.\d+\.\d+"\} 1$/m);
    expect(samples(text, 'pipemeter_instrumentation_errors_total')).toHaveLength(7);
  });

  it('includes prom-client default process metrics when asked (the default)', async () => {
    const m = createMeter({});
    const text = await expo.text(m);
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_heap_size_used_bytes gauge');
    // prom-client's three gauges named like counters are left out (promtool refuses them); the per-type gauges stay.
    expect(text).toContain('# TYPE nodejs_active_handles gauge');
    expect(text).not.toMatch(/^nodejs_active_(handles|requests|resources)_total/m);
  });

  it('refuses a prom-client metric that collides with a pipemeter family\'s samples, and the reverse', () => {
    const m = quiet();
    m.histogram({ name: 'fetch_seconds', help: 'F.', buckets: [1] });
    expect(() => new PromCounter({ name: 'fetch_seconds_count', help: 'x', registers: [m.registry] })).toThrow(/collides with histogram "fetch_seconds"/);
    new PromCounter({ name: 'legacy_seconds', help: 'x', registers: [m.registry] });
    expect(() => m.gauge({ name: 'legacy_seconds_created', help: 'L.' })).toThrow(/collides with counter "legacy_seconds" of meter\.registry/);
  });
});

describe('expiry', () => {
  it('drops series idle for the TTL, keeps written and pinned ones', async () => {
    const m = quiet();
    const c = m.counter({ name: 'seen_total', help: 'S.', labels: ['k'] });
    c.inc({ k: 'idle' });
    c.inc({ k: 'busy' });
    c.labels({ k: 'pinned' }).inc();
    m.expireIdle(60_000, 0); // first sweep: all were written, stamped at t=0
    c.inc({ k: 'busy' });
    expect(m.expireIdle(60_000, 30_000)).toBe(0); // too early for anything
    c.inc({ k: 'busy' });
    expect(m.expireIdle(60_000, 61_000)).toBe(1); // idle since 0
    expect(samples(await expo.text(m), 'seen_total')).toEqual(['seen_total{k="busy"} 3', 'seen_total{k="pinned"} 1']);
  });
});

describe('logger default', () => {
  it('warns once on the console when no logger is given', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const m = createMeter({ defaultMetrics: false });
    const c = m.counter({ name: 'w_total', help: 'W.' });
    c.inc({}, -1);
    c.inc({}, -1);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });
});

describe('names of non-counters', () => {
  it.each(['gauge', 'histogram'] as const)('refuses a %s named *_total', (kind) => {
    const m = quiet();
    const def = { name: 'open_total', help: 'O.', buckets: [1] };
    expect(() => (kind === 'gauge' ? m.gauge(def) : m.histogram(def))).toThrow(/only counter names end in "_total"/);
  });
});
