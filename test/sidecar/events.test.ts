import { describe, expect, it } from 'vitest';
import { type DeclaredFamily, parseEvent, parseInstant } from '../../src/sidecar/events.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const families = new Map<string, DeclaredFamily>([
  ['crawl_embedding_tokens_total', { type: 'counter', labels: ['model'] }],
  ['queue_size', { type: 'gauge', labels: [] }],
]);

describe('parseEvent: the shapes of the ingest API', () => {
  it.each([
    [
      { type: 'item_created', scraper: 'beatport', item_type: 'track', source: 'https://www.beatport.com/track/x/1' },
      { type: 'item_created', at: NOW, scraper: 'beatport', itemType: 'track', source: 'https://www.beatport.com/track/x/1', count: 1 },
    ],
    [
      { type: 'schema_error', scraper: 'beatport', item_type: 'track', error_type: 'validation', count: 2 },
      { type: 'schema_error', at: NOW, scraper: 'beatport', itemType: 'track', errorType: 'validation', count: 2 },
    ],
    [
      { type: 'scraper_run', scraper: 'beatport', outcome: 'success', duration_seconds: 12.5 },
      { type: 'scraper_run', at: NOW, scraper: 'beatport', outcome: 'success', durationSeconds: 12.5 },
    ],
    [
      { type: 'job_queued', pipeline: 'video', job_id: 'v-1', at: '2024-05-01T11:00:00Z' },
      { type: 'job_queued', at: NOW - 3600_000, pipeline: 'video', jobId: 'v-1', initiatedAt: undefined },
    ],
    [
      { type: 'job_started', pipeline: 'video', job_id: 42, at: 1714564800, queued_at: '1714564790' },
      { type: 'job_started', at: 1714564800_000, pipeline: 'video', jobId: '42', queuedAt: 1714564790_000, initiatedAt: undefined },
    ],
    [
      { type: 'stage', pipeline: 'video', job_id: 'v-1', stage: 'transcription', duration_seconds: 41.2, outcome: 'success' },
      { type: 'stage', at: NOW, pipeline: 'video', jobId: 'v-1', stage: 'transcription', durationSeconds: 41.2, outcome: 'success' },
    ],
    [
      { type: 'stage', pipeline: 'crawl', stage: 'bm25', duration_seconds: 0.2 },
      { type: 'stage', at: NOW, pipeline: 'crawl', jobId: undefined, stage: 'bm25', durationSeconds: 0.2, outcome: 'success' },
    ],
    [
      { type: 'job_finished', pipeline: 'video', job_id: 'v-1', outcome: 'completed', media_seconds: 312, initiated_at: '2024-05-01T11:59:00+01:00' },
      { type: 'job_finished', at: NOW, pipeline: 'video', jobId: 'v-1', outcome: 'completed', mediaSeconds: 312, initiatedAt: NOW - 3600_000 + 60_000 - 120_000, failedStage: undefined, durationSeconds: undefined },
    ],
    [
      { type: 'items', pipeline: 'crawl', outcome: 'indexed', count: 3 },
      { type: 'items', at: NOW, pipeline: 'crawl', outcome: 'indexed', count: 3 },
    ],
    [
      { type: 'metric', name: 'crawl_embedding_tokens_total', labels: { model: 'bge' }, value: 1200 },
      { type: 'metric', at: NOW, name: 'crawl_embedding_tokens_total', labels: { model: 'bge' }, value: 1200 },
    ],
    [{ type: 'metric', name: 'queue_size', value: -3 }, { type: 'metric', at: NOW, name: 'queue_size', labels: {}, value: -3 }],
  ])('%j', (raw, want) => {
    expect(parseEvent(raw, NOW, families)).toEqual({ ok: true, value: want });
  });
});

describe('parseEvent: bad inputs say what is wrong', () => {
  it.each([
    ['not an object', [1], 'invalid_event', 'expected a JSON object with a "type", got [1]'],
    ['no type', { scraper: 'b' }, 'unknown_type', 'type: expected one of item_created, schema_error, scraper_run, job_queued, job_started, stage, job_finished, items, metric, got nothing'],
    ['unknown type', { type: 'job_done' }, 'unknown_type', 'type: expected one of item_created, schema_error, scraper_run, job_queued, job_started, stage, job_finished, items, metric, got "job_done"'],
    ['unknown field', { type: 'items', pipeline: 'crawl', outcome: 'indexed', cnt: 3 }, 'invalid_event', 'cnt: unknown field for a items event; its fields are pipeline, outcome, count, at'],
    ['missing scraper', { type: 'item_created', item_type: 't', source: 's' }, 'invalid_event', 'scraper: expected a name of up to 64 letters, digits, "_", ".", ":" or "-", got nothing'],
    ['a name with spaces', { type: 'items', pipeline: 'my crawl', outcome: 'x' }, 'invalid_event', 'pipeline: expected a name of up to 64 letters, digits, "_", ".", ":" or "-", got "my crawl"'],
    ['negative duration', { type: 'stage', pipeline: 'p', stage: 's', duration_seconds: -1 }, 'invalid_event', 'duration_seconds: expected a number of seconds >= 0, got -1'],
    ['duration as a string', { type: 'stage', pipeline: 'p', stage: 's', duration_seconds: '1' }, 'invalid_event', 'duration_seconds: expected a number of seconds >= 0, got "1"'],
    ['fractional count', { type: 'items', pipeline: 'p', outcome: 'x', count: 1.5 }, 'invalid_event', 'count: expected a whole number >= 0, got 1.5'],
    ['bad run outcome', { type: 'scraper_run', scraper: 'b', outcome: 'ok' }, 'invalid_event', 'outcome: expected one of success, failure, got "ok"'],
    ['abandoned is the sidecar\'s to set', { type: 'job_finished', pipeline: 'p', job_id: 'j', outcome: 'abandoned' }, 'invalid_event', 'outcome: expected one of completed, failed, cancelled, got "abandoned"'],
    ['bad time', { type: 'job_started', pipeline: 'p', job_id: 'j', at: 'yesterday' }, 'invalid_event', 'at: expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got "yesterday"'],
    ['missing job id', { type: 'job_started', pipeline: 'p' }, 'invalid_event', 'job_id: expected a non-empty string of at most 256 characters, got nothing'],
    ['undeclared family', { type: 'metric', name: 'nope_total' }, 'unknown_family', 'name: "nope_total" is not a declared family; declare it under "families:" in the config (declared: crawl_embedding_tokens_total, queue_size)'],
    ['undeclared label', { type: 'metric', name: 'crawl_embedding_tokens_total', labels: { model: 'a', crawl_id: 'x' } }, 'invalid_event', 'labels.crawl_id: crawl_embedding_tokens_total has no label "crawl_id"; its labels are model'],
    ['missing label', { type: 'metric', name: 'crawl_embedding_tokens_total', labels: {} }, 'invalid_event', 'labels.model: expected a string of at most 128 characters, got nothing'],
    ['a counter going down', { type: 'metric', name: 'crawl_embedding_tokens_total', labels: { model: 'a' }, value: -1 }, 'invalid_event', 'value: crawl_embedding_tokens_total is a counter and only goes up; send an increment >= 0, got -1'],
  ])('%s', (_what, raw, reason, message) => {
    expect(parseEvent(raw, NOW, families)).toEqual({ ok: false, reason, message });
  });
});

describe('parseInstant', () => {
  it.each([
    ['2024-05-01T12:00:00Z', NOW],
    ['2024-05-01T12:00:00.250Z', NOW + 250],
    ['2024-05-01T14:00:00+02:00', NOW],
    [1714564800, NOW],
    ['1714564800.5', NOW + 500],
    // The earliest instant, and the latest: an hour after the sidecar's clock.
    [946684800, Date.UTC(2000, 0, 1)],
    [NOW / 1000 + 3600, NOW + 3600_000],
  ])('%j -> %j', (v, want) => expect(parseInstant(v, NOW)).toEqual({ ok: true, ms: want }));

  it.each([
    ['2024-05-01', 'invalid_event', 'expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got "2024-05-01"'],
    ['2024-05-01T12:00:00', 'invalid_event', 'expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got "2024-05-01T12:00:00"'],
    [-1, 'invalid_event', 'expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got -1'],
    [null, 'invalid_event', 'expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got null'],
    // Issue 19, item 1: 1e306 seconds is Infinity in milliseconds; a 400-digit string likewise.
    [1e306, 'implausible_time', '1e+306 is a time after the year 275760, more than an hour after the sidecar\'s clock (2024-05-01T12:00:00.000Z); send the time the event happened, in seconds since the epoch or RFC 3339'],
    ['9'.repeat(400), 'invalid_event', `expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got "${'9'.repeat(56)}...`],
    // Issue 19, item 8: at 0 made a 56-year duration.
    [0, 'implausible_time', "0 is before 2000-01-01T00:00:00Z; send the time in seconds since the epoch or RFC 3339, or leave it out to use the sidecar's clock"],
    ['1999-12-31T23:59:59Z', 'implausible_time', '"1999-12-31T23:59:59Z" is before 2000-01-01T00:00:00Z; send the time in seconds since the epoch or RFC 3339, or leave it out to use the sidecar\'s clock'],
    // Issue 18, item 5: a JavaScript worker's Date.now() sent as seconds.
    [NOW, 'implausible_time', '1714564800000 looks like milliseconds since the epoch (2024-05-01T12:00:00.000Z); send seconds (1714564800) or RFC 3339'],
    [String(NOW + 1500), 'implausible_time', '"1714564801500" looks like milliseconds since the epoch (2024-05-01T12:00:01.500Z); send seconds (1714564801.5) or RFC 3339'],
    [NOW * 1000, 'implausible_time', '1714564800000000 looks like microseconds since the epoch (2024-05-01T12:00:00.000Z); send seconds (1714564800) or RFC 3339'],
    [NOW * 1e6, 'implausible_time', '1714564800000000000 looks like nanoseconds since the epoch (2024-05-01T12:00:00.000Z); send seconds (1714564800) or RFC 3339'],
    [NOW / 1000 + 3601, 'implausible_time', '1714568401 is 2024-05-01T13:00:01.000Z, more than an hour after the sidecar\'s clock (2024-05-01T12:00:00.000Z); send the time the event happened, in seconds since the epoch or RFC 3339'],
    ['2034-05-01T12:00:00Z', 'implausible_time', '"2034-05-01T12:00:00Z" is 2034-05-01T12:00:00.000Z, more than an hour after the sidecar\'s clock (2024-05-01T12:00:00.000Z); send the time the event happened, in seconds since the epoch or RFC 3339'],
  ])('%j is refused: %s', (v, reason, message) => expect(parseInstant(v, NOW)).toEqual({ ok: false, reason, message }));
});

describe('parseEvent: instants and values out of range (issue 19 items 1 and 8, issue 18 item 5)', () => {
  it.each([
    ['at as Infinity in ms', { type: 'job_started', pipeline: 'p', job_id: 'j', at: 1e306 }, 'implausible_time', 'at: 1e+306 is'],
    ['at in milliseconds', { type: 'scraper_run', scraper: 'b', outcome: 'success', at: NOW }, 'implausible_time', 'at: 1714564800000 looks like milliseconds since the epoch'],
    ['initiated_at in milliseconds', { type: 'job_finished', pipeline: 'p', job_id: 'j', outcome: 'completed', initiated_at: NOW }, 'implausible_time', 'initiated_at: 1714564800000 looks like milliseconds'],
    ['queued_at at 0', { type: 'job_started', pipeline: 'p', job_id: 'j', queued_at: 0 }, 'implausible_time', 'queued_at: 0 is before 2000-01-01'],
    ['a duration of 1e308 s', { type: 'stage', pipeline: 'p', stage: 's', duration_seconds: 1e308 }, 'value_out_of_range', 'duration_seconds: 1e+308 is over 9007199254740991 seconds'],
    ['a count over 2^53', { type: 'items', pipeline: 'p', outcome: 'x', count: 2 ** 60 }, 'value_out_of_range', 'count: 1152921504606847000 is over 9007199254740991'],
    ['a counter increment of 1e308', { type: 'metric', name: 'crawl_embedding_tokens_total', labels: { model: 'a' }, value: 1e308 }, 'value_out_of_range', 'value: 1e+308 is over 9007199254740991'],
    ['media_seconds of 1e-300', { type: 'job_finished', pipeline: 'p', job_id: 'j', outcome: 'completed', media_seconds: 1e-300 }, 'value_out_of_range', 'media_seconds: 1e-300 is under 0.001'],
  ])('%s: refused as %s', (_what, raw, reason, fragment) => {
    const r = parseEvent(raw, NOW, families);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe(reason);
    expect(r.message).toContain(fragment);
  });

  it('a gauge may still be set to any finite value: it does not accumulate', () => {
    expect(parseEvent({ type: 'metric', name: 'queue_size', value: 1e308 }, NOW, families).ok).toBe(true);
  });
});
