import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { formatOf, parseExposition, parseNumber } from '../../src/exposition/parse.js';
import type { Format } from '../../src/exposition/render.js';
import { describeWithTools, promtoolCheckMetrics } from '../helpers/tools.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/check/${name}`, import.meta.url), 'utf8');

/** A meter with every kind of series: scraper, pipeline with exemplars, escapes in label values, infinities (NaN comes from prom-client's defaults). */
async function busyMeter() {
  const m = createMeter({ service: 'parse-test', logger: () => {} });
  const s = m.scraper('beatport', { itemTypes: ['track'] });
  s.itemCreated('track', 'https://www.beatport.com/track/x/1', 3);
  s.schemaError('http_error', 'track');
  s.recordRun({ outcome: 'success', durationSeconds: 12 });
  const p = m.pipeline('crawl', { stages: ['chunking', 'embedding'] });
  p.recordStarted({ jobId: 'crawl-7f3a', queueWaitSeconds: 2 });
  p.recordStage('chunking', 0.2, 'success', 'crawl-7f3a');
  p.recordFinished({ outcome: 'completed', durationSeconds: 40, e2eSeconds: 45, jobId: 'crawl-7f3a' });
  const odd = m.gauge({ name: 'odd_values', help: 'Help with a backslash \\ and\na newline.', labels: ['kind'] });
  odd.set({ kind: 'quote " backslash \\ newline \n end' }, -Infinity);
  odd.set({ kind: 'inf' }, Infinity);
  odd.set({ kind: 'tiny' }, 1.5e-9);
  return m;
}

// Inputs every strict reader must accept. Text cases are also judged by promtool below.
const good: [string, Format, string][] = [
  ['a bare gauge', 'text', '# HELP a h\n# TYPE a gauge\na 1\n'],
  ['labels, escapes and a trailing comma', 'text', '# HELP a h\n# TYPE a gauge\na{x="q\\"b\\\\n\\n",y="",} 1\n'],
  ['blanks around labels and between tokens', 'text', '# HELP a h\n# TYPE a gauge\n  a { x = "1" }\t 2\n'],
  ['NaN, +Inf, -Inf, exponents, .5', 'text', '# HELP a h\n# TYPE a gauge\na{k="1"} NaN\na{k="2"} +Inf\na{k="3"} -Inf\na{k="4"} 1.5e-7\na{k="5"} .5\na{k="6"} 5E+3\n'],
  ['a millisecond timestamp', 'text', '# HELP a_total h\n# TYPE a_total counter\na_total 1 1700000000000\n'],
  ['comments and blank lines', 'text', '# a comment\n\n# HELP a h\n# TYPE a gauge\n\na 1\n'],
  ['untyped samples without metadata', 'text', 'a 1\nb{x="y"} 2\n'],
  ['a histogram', 'text', '# HELP h h\n# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 4\nh_sum 3.2\nh_count 4\n'],
  ['a summary', 'text', '# HELP s h\n# TYPE s summary\ns{quantile="0.5"} 1\ns{quantile="0.99"} 3\ns_sum 9\ns_count 4\n'],
  ['HELP without text', 'text', '# HELP a\n# TYPE a gauge\na 1\n'],
  ['an empty body', 'text', ''],
  ['OpenMetrics counter with _created and an exemplar', 'openmetrics', '# TYPE c counter\n# HELP c h\nc_total{x="1"} 3 # {trace_id="abc"} 1 1700000000.5\nc_created{x="1"} 1700000000\n# EOF\n'],
  ['OpenMetrics histogram with unit and bucket exemplar', 'openmetrics', '# TYPE h_seconds histogram\n# UNIT h_seconds seconds\nh_seconds_bucket{le="1"} 1 # {id="j1"} 0.4\nh_seconds_bucket{le="+Inf"} 2\nh_seconds_sum 3\nh_seconds_count 2\n# EOF\n'],
  ['OpenMetrics float timestamp in seconds', 'openmetrics', '# TYPE g gauge\ng 1 1700000000.25\n# EOF'],
  ['OpenMetrics info, stateset, unknown', 'openmetrics', '# TYPE i info\ni_info{v="1"} 1\n# TYPE s stateset\ns{s="a"} 1\ns{s="b"} 0\nu 3\n# EOF\n'],
];

// Inputs with exactly one problem: its code and line; `promtool` says whether promtool also rejects the text case
// (false where pipemeter is stricter than the text parser, on purpose: grouping, duplicates and histogram semantics).
const bad: [string, Format, string, code: string, line: number, promtool?: boolean][] = [
  ['missing comma between labels', 'text', '# TYPE a gauge\na{x="1" y="2"} 1\n', 'syntax', 2, true],
  ['unquoted label value', 'text', 'a{x=1} 1\n', 'syntax', 1, true],
  ['label value not closed', 'text', 'a{x="1} 1\n', 'syntax', 1, true],
  ['invalid escape in label value', 'text', 'a{x="\\q"} 1\n', 'invalid-escape', 1, true],
  ['duplicate label name', 'text', 'a{x="1",x="2"} 1\n', 'duplicate-label', 1, true],
  ['metric name starting with a digit', 'text', '9a 1\n', 'invalid-name', 1, true],
  ['label name starting with a digit', 'text', 'a{9x="1"} 1\n', 'invalid-name', 1, true],
  ['value is not a number', 'text', 'a one\n', 'invalid-value', 1, true],
  ['hex float value', 'text', 'a 0x1p3\n', 'invalid-value', 1, true],
  ['signed NaN', 'text', 'a +nan\n', 'invalid-value', 1, true],
  ['fractional text timestamp', 'text', 'a 1 1.5\n', 'invalid-timestamp', 1, true],
  ['text after the timestamp', 'text', 'a 1 2 3\n', 'syntax', 1, true],
  ['trailing whitespace', 'text', 'a 1 \n', 'syntax', 1, true],
  ['exemplar in text 0.0.4', 'text', '# TYPE a_total counter\na_total 1 # {id="x"} 1\n', 'syntax', 2, true],
  ['no final newline', 'text', '# TYPE a gauge\na 1', 'syntax', 2, true],
  ['unknown type', 'text', '# TYPE a foo\na 5\n', 'unknown-type', 1, true],
  ['second HELP', 'text', '# HELP a h\n# HELP a h\na 1\n', 'duplicate-metadata', 2, true],
  ['TYPE after samples', 'text', 'a_total 1\n# TYPE a_total counter\n', 'metadata-after-samples', 2, true],
  ['duplicate series', 'text', '# TYPE a_total counter\na_total{x="1"} 1\na_total{x="1"} 2\n', 'duplicate-series', 3, false],
  ['interleaved families', 'text', '# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\na_total{x="1"} 2\n', 'interleaved-family', 5, false],
  ['buckets not cumulative', 'text', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 3\nh_count 3\n', 'histogram-not-cumulative', 3, false],
  ['buckets out of order', 'text', '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\n', 'histogram-order', 3, false],
  ['histogram without +Inf', 'text', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_sum 1\nh_count 3\n', 'histogram-missing-inf', 2, false],
  ['_count differs from +Inf', 'text', '# TYPE h histogram\nh_bucket{le="+Inf"} 3\nh_count 4\n', 'histogram-count', 3, false],
  ['bucket without le', 'text', '# TYPE h histogram\nh_bucket 1\n', 'histogram-le', 2, false],
  ['sample named like its histogram family', 'text', '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh 1\n', 'sample-name', 3, false],
  ['negative counter', 'text', '# TYPE a_total counter\na_total -1\n', 'counter-value', 2, false],
  ['summary without quantile', 'text', '# TYPE s summary\ns 1\n', 'summary-quantile', 2, false],
  ['carriage return line end', 'text', '# TYPE a gauge\na 1\r\n', 'syntax', 2],
  ['OpenMetrics without # EOF', 'openmetrics', '# TYPE a gauge\na 1\n', 'eof', 2],
  ['OpenMetrics content after # EOF', 'openmetrics', '# TYPE a gauge\na 1\n# EOF\na 2\n', 'eof', 4],
  ['OpenMetrics counter sample without _total', 'openmetrics', '# TYPE c counter\nc 1\n# EOF\n', 'sample-name', 2],
  ['OpenMetrics counter declared with _total', 'openmetrics', '# TYPE c_total counter\nc_total_total 1\n# EOF\n', 'counter-total', 1],
  ['OpenMetrics blank line', 'openmetrics', '# TYPE a gauge\n\na 1\n# EOF\n', 'syntax', 2],
  ['OpenMetrics free comment', 'openmetrics', '# just a comment\n# EOF\n', 'syntax', 1],
  ['OpenMetrics double space', 'openmetrics', 'a  1\n# EOF\n', 'syntax', 1],
  ['OpenMetrics HELP after samples', 'openmetrics', '# TYPE a gauge\na 1\n# HELP a h\n# EOF\n', 'metadata-after-samples', 3],
  ['OpenMetrics UNIT not in the name', 'openmetrics', '# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n', 'unit', 2],
  ['OpenMetrics exemplar on a gauge', 'openmetrics', '# TYPE g gauge\ng 1 # {id="x"} 1\n# EOF\n', 'exemplar', 2],
  ['OpenMetrics exemplar labels over 128 chars', 'openmetrics', `# TYPE c counter\nc_total 1 # {id="${'x'.repeat(130)}"} 1\n# EOF\n`, 'exemplar', 2],
  ['OpenMetrics interleaved families', 'openmetrics', '# TYPE a gauge\na{x="1"} 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n', 'duplicate-metadata', 5],
];

describe('parseExposition', () => {
  it.each(good)('accepts %s (%s)', (_name, format, text) => {
    expect(parseExposition(text, format).problems).toEqual([]);
  });

  it.each(bad)('rejects %s (%s)', (_name, format, text, code, line) => {
    const { problems } = parseExposition(text, format);
    expect(problems.map((p) => [p.code, p.line])).toEqual([[code, line]]);
    expect(problems[0]!.message.length).toBeGreaterThan(20);
  });

  it.each([
    ['1', 1],
    ['-2.5e3', -2500],
    ['.5', 0.5],
    ['+Inf', Infinity],
    ['-inf', -Infinity],
    ['Infinity', Infinity],
    ['NaN', NaN],
    ['0x10', undefined],
    ['1_000', undefined],
    ['', undefined],
  ] as const)('parseNumber(%j) is %s', (input, want) => {
    expect(parseNumber(input)).toBe(want);
  });

  it.each([
    ['application/openmetrics-text; version=1.0.0; charset=utf-8', 'openmetrics'],
    ['text/plain; version=0.0.4; charset=utf-8', 'text'],
    ['application/json', 'text'],
    [undefined, 'text'],
  ] as const)('formatOf(%j) is %s', (ct, want) => expect(formatOf(ct)).toBe(want));

  it('reads labels with escapes, values, timestamps and exemplars', () => {
    const om = parseExposition(
      '# TYPE c counter\n# HELP c Quote \\" and \\\\.\nc_total{a="x\\"y",b="l1\\nl2",c="back\\\\slash"} 1.5e3 1700000000.5 # {trace_id="t1"} 2 1700000001\n# EOF\n',
      'openmetrics',
    );
    expect(om.problems).toEqual([]);
    const [f] = om.families;
    expect(f).toMatchObject({ name: 'c', type: 'counter', typed: true, help: 'Quote " and \\.' });
    expect(f!.samples).toEqual([
      {
        name: 'c_total',
        labels: { a: 'x"y', b: 'l1\nl2', c: 'back\\slash' },
        value: 1500,
        timestampMs: 1700000000500,
        exemplar: { labels: { trace_id: 't1' }, value: 2, timestamp: 1700000001 },
        line: 3,
      },
    ]);
    const text = parseExposition('# HELP g Line\\nbreak\n# TYPE g gauge\ng -Inf 1700000000123\n', 'text');
    expect(text.families[0]).toMatchObject({ help: 'Line\nbreak', samples: [{ value: -Infinity, timestampMs: 1700000000123 }] });
  });

  it('groups Python prometheus_client text: counters carry _total, _created is its own gauge family', () => {
    const r = parseExposition(fixture('python-client.txt'), 'text');
    expect(r.problems).toEqual([]);
    const byName = new Map(r.families.map((f) => [f.name, f]));
    expect(byName.get('scraper_items_created_total')).toMatchObject({ type: 'counter' });
    expect(byName.get('scraper_items_created_created')).toMatchObject({ type: 'gauge' });
    const h = byName.get('scraper_run_duration_seconds')!;
    expect(new Set(h.samples.map((s) => s.name))).toEqual(
      new Set(['scraper_run_duration_seconds_bucket', 'scraper_run_duration_seconds_count', 'scraper_run_duration_seconds_sum']),
    );
  });

  it('groups Python prometheus_client OpenMetrics: _total and _created inside the counter family', () => {
    const r = parseExposition(fixture('python-client-om.txt'), 'openmetrics');
    expect(r.problems).toEqual([]);
    const c = r.families.find((f) => f.name === 'scraper_items_created')!;
    expect(c.samples.map((s) => s.name)).toEqual(['scraper_items_created_total', 'scraper_items_created_created']);
    expect(c.samples[0]!.exemplar).toEqual({ labels: { trace_id: '4bf92f3577b34da6' }, value: 1, timestamp: 1717699001.2 });
    expect(r.families.find((f) => f.name === 'scraper_run_duration_seconds')).toMatchObject({ type: 'histogram', unit: 'seconds' });
  });

  it('reads prom-client default metrics text (blank lines between families, NaN, huge floats)', () => {
    const r = parseExposition(fixture('prom-client-defaults.txt'), 'text');
    expect(r.problems).toEqual([]);
    expect(r.families.map((f) => f.name)).toContain('nodejs_gc_duration_seconds');
    expect(r.families.find((f) => f.name === 'nodejs_eventloop_lag_mean_seconds')!.samples[0]!.value).toBeNaN();
  });

  it.each(['text', 'openmetrics'] as const)('parses pipemeter\'s own %s output without problems, sample by sample', async (format) => {
    const m = await busyMeter();
    const body = await m.metrics({ openMetrics: format === 'openmetrics' });
    const r = parseExposition(body, format);
    expect(r.problems).toEqual([]);
    expect(r.families.length).toBe(body.split('\n').filter((l) => l.startsWith('# TYPE ')).length);
    const samples = r.families.flatMap((f) => f.samples);
    expect(samples.length).toBe(body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length);
    const items = samples.find((s) => s.name === 'scraper_items_created_total' && s.labels.source === 'www.beatport.com');
    expect(items).toMatchObject({ value: 3, labels: { scraper: 'beatport', item_type: 'track' } });
    const odd = samples.filter((s) => s.name === 'odd_values');
    expect(odd.map((s) => [s.labels.kind, s.value])).toEqual([
      ['quote " backslash \\ newline \n end', -Infinity],
      ['inf', Infinity],
      ['tiny', 1.5e-9],
    ]);
    const exemplars = samples.flatMap((s) => (s.exemplar === undefined ? [] : [s.exemplar]));
    if (format === 'text') expect(exemplars).toEqual([]);
    else expect(exemplars.filter((e) => Object.values(e.labels).includes('crawl-7f3a')).length).toBeGreaterThan(0);
  });
});

describeWithTools(['promtool'], 'parseExposition agrees with promtool check metrics on text 0.0.4', () => {
  // promtool exits 1 on a parse error and 3 on lint findings only (e.g. no HELP); valid text is "not 1".
  const promtoolParses = (text: string) => promtoolCheckMetrics(text).code !== 1;

  it.each(good.filter(([, f, t]) => f === 'text' && t !== ''))('promtool parses "%s"', (_n, _f, text) => {
    expect(promtoolParses(text)).toBe(true);
  });

  it.each(bad.filter((c) => c[1] === 'text' && c[5] !== undefined))('promtool on "%s" matches the table', (_n, _f, text, _c, _l, rejects) => {
    expect(promtoolParses(text)).toBe(!rejects);
  });

  it.each(['python-client.txt', 'prom-client-defaults.txt'])('promtool parses fixture %s, which we accept', (name) => {
    const text = fixture(name);
    expect(parseExposition(text, 'text').problems).toEqual([]);
    expect(promtoolParses(text)).toBe(true);
  });

  it('promtool parses pipemeter\'s text output, which we accept', async () => {
    const text = await (await busyMeter()).metrics();
    expect(parseExposition(text, 'text').problems).toEqual([]);
    const r = promtoolCheckMetrics(text);
    expect(r.code, r.findings).not.toBe(1);
  });
});
