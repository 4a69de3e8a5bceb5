/**
 * One catalog, two languages: the same sequence of recording calls through the Node module (src/index.ts) and the
 * Python package gives the same samples (names, labels, values), the same families (type, help, unit) and the same
 * exemplars. Bad calls are in the sequence too: both ignore and count them alike.
 */
import { beforeAll, expect, it } from 'vitest';
import { type ParsedExposition, createMeter, parseExposition } from '../../src/index.js';
import { describeWithPython, fixtures, key, runPython } from './helpers.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Op = [string, ...Json[]];

const T0 = 1_790_000_000;
const NaN_ = { $: 'NaN' };
const INF = { $: 'Infinity' };

/** Sources chosen where JavaScript and Python differ on strings (trim, $, case, surrogates): both must reduce them alike. */
const tricky = [
  'https://www.beatport.com/track/x/1',
  'http://WWW.Beatport.COM/track?id=1#frag',
  'https://user:secret@api.example.com:8443/v1/items',
  '//cdn.example.org/a.png',
  'example.com.',
  'http://[2001:DB8::1]:8080/x',
  '[::1',
  ' \ufeff\u00a0padded.example.com\u3000',
  '\u001cnot-js-space.example.com',
  'trailing.example.com\n',
  'http://\u212Aelvin.example.com/',
  'ftp://files.example.com:21/x',
  'x://y://z.example.com/',
  'not a url',
  '',
  `https://${'a'.repeat(300)}.com/`,
  `https://${'h'.repeat(100_000)}.org/`,
];

const ops: Op[] = [
  ['scraper', 'beatport', { itemTypes: ['track', 'artist'], sources: ['https://www.beatport.com/'] }],
  ['scraper', 'mixesdb', { itemTypes: ['track'] }],
  ...tricky.map((s): Op => ['itemCreated', 'mixesdb', 'track', s]),
  ['itemCreated', 'beatport', 'track', 'https://www.beatport.com/track/x/1', 3],
  ['itemCreated', 'beatport', 'artist', 'www.beatport.com'],
  ['itemCreated', 'beatport', 'track', 'https://www.beatport.com/', -1],
  ['itemCreated', 'beatport', 'track', 'https://www.beatport.com/', '2'],
  ['itemCreated', 'beatport', 'track', 'https://www.beatport.com/', NaN_],
  ['itemCreated', 'beatport', null, 'https://www.beatport.com/'],
  ['itemCreated', 'beatport', 'track', null],
  ['itemCreated', 'beatport', 'x'.repeat(1000), 'beatport.com'],
  ['schemaError', 'beatport', 'validation', 'track'],
  ['schemaError', 'beatport', 'http_error', 'track', 2],
  ['schemaError', 'beatport', 5, 'track'],
  ['recordRun', 'beatport', 'success', 12.5, T0],
  ['recordRun', 'beatport', 'failure', 700],
  ['recordRun', 'beatport', 'weird', 0.5],
  ['recordRun', 'mixesdb', 'failure'],
  ['recordRun', 'mixesdb', 'success', INF, T0 + 60],
  ['pipeline', 'video', { stages: ['downloading', 'transcription'] }],
  ['job', 'video', 'job-8f3a', { initiatedAt: T0, queuedAt: T0 + 2, startedAt: T0 + 32 }],
  ['stageObserved', 'job-8f3a', 'downloading', 0.75],
  ['stageObserved', 'job-8f3a', 'transcription', 41.25],
  ['finish', 'job-8f3a', 'completed', { mediaSeconds: 312, at: T0 + 188 }],
  ['finish', 'job-8f3a', 'failed'],
  ['job', 'video', 'v-2', { startedAt: T0 + 10 }],
  ['stageObserved', 'v-2', 'transcription', 3.5, 'failure'],
  ['finish', 'v-2', 'failed', { at: T0 + 20 }],
  ['job', 'video', 'v-3', { queuedAt: T0, startedAt: T0 + 1 }],
  ['finish', 'v-3', 'exploded', { at: T0 + 2 }],
  ['job', 'video', 'v-4', { startedAt: T0 + 5 }],
  ['finish', 'v-4', 'cancelled', { at: T0 + 6, mediaSeconds: 0 }],
  ['job', 'video', 'v-5', { queuedAt: T0 + 1, startedAt: T0 }],
  ['finish', 'v-5', 'failed', { at: T0 + 3, failedStage: 'indexing' }],
  ['pipeline', 'images'],
  ['items', 'images', 'indexed', 3],
  ['items', 'images', 'failed'],
  ['items', 'images', 'failed', -2],
  ['queueDepth', 'images', 17],
  ['recordStage', 'images', 'download', 0.25, 'success', 'celery-42'],
  ['recordStage', 'images', 'upload', 1.5, 'failure'],
  ['recordStage', 'images', 'upload', NaN_, 'failure'],
  ['counter', { name: 'cache_hits_total', help: 'Cache lookups.', labels: ['cache', 'result'] }],
  ['inc', 'cache_hits_total', { cache: 'pages', result: 'hit' }],
  ['inc', 'cache_hits_total', { cache: 'pages', result: 'hit' }, 2, { job_id: 'j-1' }],
  ['inc', 'cache_hits_total', { cache: 'pages', result: 'miss' }, 1, { job_id: 'x'.repeat(200) }],
  ['boundInc', 'cache_hits_total', { cache: 'pages', result: 'miss' }, 4],
  ['inc', 'cache_hits_total', { cache: 'pages' }],
  ['inc', 'cache_hits_total', null],
  ['inc', 'cache_hits_total', { cache: 'pages', result: 7 }],
  ['inc', 'cache_hits_total', { cache: 'a\\b"c\nd', result: 'hit' }, true],
  ['counter', { name: 'pages_total', help: 'Pages.', labels: ['site', 'kind'], maxSeries: 2 }],
  ['inc', 'pages_total', { site: 'a', kind: 'x' }],
  ['inc', 'pages_total', { site: 'b', kind: 'x' }],
  ['inc', 'pages_total', { site: 'c', kind: 'x' }, 5],
  ['inc', 'pages_total', { site: 'd', kind: 'y' }, 7],
  ['inc', 'pages_total', { site: 'a', kind: 'x' }],
  ['gauge', { name: 'work_queue_depth', help: 'Queued work.', labels: ['queue'] }],
  ['set', 'work_queue_depth', { queue: 'a' }, 5],
  ['inc', 'work_queue_depth', { queue: 'a' }, 2],
  ['dec', 'work_queue_depth', { queue: 'a' }],
  ['set', 'work_queue_depth', { queue: 'b' }, NaN_],
  ['set', 'work_queue_depth', { queue: 'c' }, -4.5],
  ['histogram', { name: 'fetch_duration_seconds', help: 'Fetch time.', labels: ['site'], buckets: [0.000001, 0.1, 1, 2.5, 1e21] }],
  ['observe', 'fetch_duration_seconds', { site: 'x' }, 0.05, { job_id: 'fetch-1' }],
  ['observe', 'fetch_duration_seconds', { site: 'x' }, 0.1],
  ['observe', 'fetch_duration_seconds', { site: 'x' }, 5e21],
  ['observe', 'fetch_duration_seconds', { site: 'x' }, -3],
  ['observe', 'fetch_duration_seconds', { site: 'x' }, INF],
  ['observe', 'fetch_duration_seconds', { site: 'x' }, 'slow'],
];

/** The Node side of the same calls (times in the ops are epoch seconds; the Node module takes milliseconds). */
function replayNode(list: readonly Op[]): ReturnType<typeof createMeter> {
  const num = (v: Json | undefined): any => (v !== null && typeof v === 'object' && !Array.isArray(v) && '$' in v ? Number(v.$) : v);
  const ms = (v: Json | undefined): any => (typeof v === 'number' ? v * 1000 : (v ?? undefined));
  const m = createMeter({ service: 'replay', defaultMetrics: false, logger: () => {} });
  const jobs = new Map<string, any>();
  const fams = new Map<string, any>();
  for (const [op, ...a] of list as [string, ...any[]][]) {
    const rest = a.map(num);
    switch (op) {
      case 'scraper':
        m.scraper(a[0], a[1]);
        break;
      case 'itemCreated':
        m.scraper(a[0]).itemCreated(a[1], a[2], ...rest.slice(3));
        break;
      case 'schemaError':
        m.scraper(a[0]).schemaError(a[1], a[2], ...rest.slice(3));
        break;
      case 'recordRun':
        m.scraper(a[0]).recordRun({ outcome: a[1], durationSeconds: rest[2], at: ms(a[3]) });
        break;
      case 'pipeline':
        m.pipeline(a[0], a[1]);
        break;
      case 'job':
        jobs.set(a[1], m.pipeline(a[0]).job(a[1], { queuedAt: ms(a[2].queuedAt), initiatedAt: ms(a[2].initiatedAt), startedAt: ms(a[2].startedAt) }));
        break;
      case 'stageObserved':
        jobs.get(a[0]).stageObserved(a[1], rest[2], ...a.slice(3));
        break;
      case 'finish': {
        const o = a[2] ?? {};
        jobs.get(a[0]).finish(a[1], { mediaSeconds: num(o.mediaSeconds), failedStage: o.failedStage, at: ms(o.at) });
        break;
      }
      case 'items':
        m.pipeline(a[0]).items(a[1], ...rest.slice(2));
        break;
      case 'queueDepth':
        m.pipeline(a[0]).setQueueDepth(rest[1]);
        break;
      case 'recordStage':
        m.pipeline(a[0]).recordStage(a[1], rest[2], a[3], ...a.slice(4));
        break;
      case 'counter':
      case 'gauge':
      case 'histogram':
        fams.set(a[0].name, (m as any)[op](a[0]));
        break;
      case 'inc':
      case 'dec':
      case 'set':
      case 'observe':
        fams.get(a[0])[op](a[1], ...rest.slice(2));
        break;
      case 'boundInc':
        fams.get(a[0]).labels(a[1]).inc(...rest.slice(2));
        break;
      default:
        throw new Error(`unknown op ${op}`);
    }
  }
  return m;
}

interface Side {
  samples: Map<string, number>;
  families: Map<string, { type: string; help?: string; unit?: string }>;
  exemplars: Map<string, { labels: Record<string, string>; value: number }>;
}

function side(text: ParsedExposition, om: ParsedExposition): Side {
  const samples = new Map<string, number>();
  for (const f of text.families) for (const s of f.samples) samples.set(key(s.name, s.labels), s.value);
  const families = new Map(om.families.map((f) => [f.name, { type: f.type, help: f.help, unit: f.unit }]));
  const exemplars = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const f of om.families) for (const s of f.samples) if (s.exemplar !== undefined) exemplars.set(key(s.name, s.labels), { labels: s.exemplar.labels, value: s.exemplar.value });
  return { samples, families, exemplars };
}

describeWithPython(['prometheus_client'], [], 'one catalog, two languages: the same calls through Node and Python', () => {
  let node: Side;
  let python: Side;
  const parsed: Record<string, ParsedExposition> = {};

  beforeAll(async () => {
    const nodeMeter = replayNode(ops);
    const nodeText = await nodeMeter.metrics();
    const nodeOm = await nodeMeter.metrics({ openMetrics: true });
    const r = await runPython([`${fixtures}/replay.py`], { input: JSON.stringify({ ops }) });
    if (r.code !== 0) throw new Error(`replay.py failed:\n${r.stderr}`);
    const py = JSON.parse(r.stdout) as { text: string; openmetrics: string };
    parsed.nodeText = parseExposition(nodeText, 'text');
    parsed.nodeOm = parseExposition(nodeOm, 'openmetrics');
    parsed.pyText = parseExposition(py.text, 'text');
    parsed.pyOm = parseExposition(py.openmetrics, 'openmetrics');
    node = side(parsed.nodeText, parsed.nodeOm);
    python = side(parsed.pyText, parsed.pyOm);
  }, 30_000);

  it('both expositions parse without a problem, in both formats', () => {
    for (const [name, p] of Object.entries(parsed)) expect(p.problems, name).toEqual([]);
  });

  it('give the same samples: names, label sets and values', () => {
    const only = (a: Map<string, number>, b: Map<string, number>) => [...a.keys()].filter((k) => !b.has(k));
    expect(only(python.samples, node.samples), 'samples only Python has').toEqual([]);
    expect(only(node.samples, python.samples), 'samples only Node has').toEqual([]);
    const differ = [...node.samples].filter(([k, v]) => python.samples.get(k) !== v).map(([k, v]) => `${k}: node ${v}, python ${python.samples.get(k)}`);
    expect(differ).toEqual([]);
    // The sequence exercised what it is meant to: ignored calls, folded series, reduced hosts.
    expect(node.samples.get(key('pipemeter_instrumentation_errors_total', { reason: 'invalid_value' }))).toBeGreaterThanOrEqual(8);
    expect(node.samples.get(key('pipemeter_series_overflow_total', { metric: 'pages_total' }))).toBe(2);
    expect(node.samples.get(key('pages_total', { site: '__overflow__', kind: '__overflow__' }))).toBe(12);
    expect(node.samples.get(key('scraper_items_created_total', { scraper: 'mixesdb', item_type: 'track', source: 'kelvin.example.com' }))).toBe(1);
    expect(node.samples.get(key('fetch_duration_seconds_bucket', { site: 'x', le: '1e+21' }))).toBe(3);
    expect(node.samples.get(key('fetch_duration_seconds_bucket', { site: 'x', le: '0.000001' }))).toBe(1);
  });

  it('declare the same families: type, help and unit', () => {
    expect(Object.fromEntries(python.families)).toEqual(Object.fromEntries(node.families));
  });

  it('carry the same exemplars (job ids; an exemplar over 128 characters is left off by both)', () => {
    expect(Object.fromEntries(python.exemplars)).toEqual(Object.fromEntries(node.exemplars));
    const ids = new Set([...node.exemplars.values()].map((e) => e.labels.job_id));
    expect([...ids].sort()).toEqual(['celery-42', 'fetch-1', 'j-1', 'job-8f3a', 'v-2', 'v-3', 'v-4', 'v-5']);
    expect(node.exemplars.get(key('cache_hits_total', { cache: 'pages', result: 'hit' }))).toEqual({ labels: { job_id: 'j-1' }, value: 2 });
  });
});
