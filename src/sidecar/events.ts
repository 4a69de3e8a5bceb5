/** Ingest events: the typed shapes of `POST /v1/events` and the one validator that turns a JSON value into one of them. */
import { type JobOutcome, type StageOutcome, jobOutcomes, stageOutcomes } from '../catalog/index.js';
import { loneSurrogateRe } from '../meter/family.js';

/** Why an event or a request was refused: the `reason` label of `pipemeter_ingest_rejected_total`. */
export const rejectReasons = [
  'invalid_json',
  'invalid_event',
  'unknown_type',
  'unknown_family',
  'unauthorized',
  'bad_signature',
  'body_too_large',
  'unsupported_media_type',
  'unknown_pipeline',
  'unsupported_webhook_type',
  'invalid_utf8',
  'rate_limited',
  'unknown_route',
  'bad_request',
  'implausible_time',
  'value_out_of_range',
  'unsupported_encoding',
  'aborted',
  'body_timeout',
  'in_flight_limit',
] as const;
export type RejectReason = (typeof rejectReasons)[number];

interface Base {
  /** When it happened, Unix milliseconds (from `at`, else the sidecar's clock). */
  at: number;
}

export interface ItemCreated extends Base {
  type: 'item_created';
  scraper: string;
  itemType: string;
  source: string;
  count: number;
}

export interface SchemaError extends Base {
  type: 'schema_error';
  scraper: string;
  itemType: string;
  errorType: string;
  count: number;
}

export interface ScraperRun extends Base {
  type: 'scraper_run';
  scraper: string;
  outcome: 'success' | 'failure';
  durationSeconds?: number;
}

export interface JobQueued extends Base {
  type: 'job_queued';
  pipeline: string;
  jobId: string;
  initiatedAt?: number;
}

export interface JobStarted extends Base {
  type: 'job_started';
  pipeline: string;
  jobId: string;
  queuedAt?: number;
  initiatedAt?: number;
}

export interface StageEvent extends Base {
  type: 'stage';
  pipeline: string;
  jobId?: string;
  stage: string;
  durationSeconds: number;
  outcome: StageOutcome;
}

export interface JobFinished extends Base {
  type: 'job_finished';
  pipeline: string;
  jobId: string;
  outcome: Exclude<JobOutcome, 'abandoned'>;
  mediaSeconds?: number;
  initiatedAt?: number;
  failedStage?: string;
  /** Used only when the start was never seen, so the duration is still known. */
  durationSeconds?: number;
}

export interface ItemsEvent extends Base {
  type: 'items';
  pipeline: string;
  outcome: string;
  count: number;
}

export interface MetricEvent extends Base {
  type: 'metric';
  name: string;
  labels: Record<string, string>;
  value: number;
}

export type IngestEvent =
  | ItemCreated
  | SchemaError
  | ScraperRun
  | JobQueued
  | JobStarted
  | StageEvent
  | JobFinished
  | ItemsEvent
  | MetricEvent;

export type EventType = IngestEvent['type'];

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; message: string };

/** What a `metric` event may write: the custom families the config declares. */
export interface DeclaredFamily {
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
}

const labelValueMax = 128;
const idMax = 256;
/** Bounded, readable label values for names chosen by the client (stage, item type, outcome). */
const tokenRe = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** isName: a scraper, pipeline, stage or item type name as ingest accepts it. */
export function isName(v: unknown): v is string {
  return typeof v === 'string' && tokenRe.test(v);
}

/** isJobId: a job id as ingest keeps it (a string of 1 to 256 characters, valid Unicode). */
export function isJobId(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v.length <= idMax && !loneSurrogateRe.test(v);
}

class Invalid extends Error {
  constructor(
    message: string,
    readonly reason: RejectReason = 'invalid_event',
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

function token(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !tokenRe.test(v)) {
    throw new Invalid(`${key}: expected a name of up to 64 letters, digits, "_", ".", ":" or "-", got ${show(v)}`);
  }
  return v;
}

function optToken(o: Obj, key: string): string | undefined {
  return o[key] === undefined ? undefined : token(o, key);
}

function text(o: Obj, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '' || v.length > max) throw new Invalid(`${key}: expected a non-empty string of at most ${max} characters, got ${show(v)}`);
  if (loneSurrogateRe.test(v)) throw new Invalid(loneSurrogate(key));
  return v;
}

/** A high surrogate without its low half, or a low one without its high half (String.isWellFormed is ES2024). */

/** A lone UTF-16 surrogate ("\ud800") has no UTF-8 form: rendered, it becomes U+FFFD, and two such values would be one series. */
function loneSurrogate(key: string): string {
  return `${key}: contains a lone UTF-16 surrogate (an escape such as "\\ud800" without its pair), which is not text; send valid Unicode`;
}

/** jobId accepts strings and integers (Celery and RQ ids are strings, some queues use numbers). */
function jobIdOf(o: Obj, key = 'job_id'): string {
  const v = o[key];
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return text(o, key, idMax);
}

/**
 * The largest number an event may add to a counter or a histogram: past 2^53 an increment is not exact, and a few such
 * would carry a counter or a histogram's sum to +Inf (which Prometheus then reads forever). Nothing a counter or a
 * histogram accumulates from events can reach +Inf below it: that takes more than 10^292 events.
 */
export const MAX_EVENT_VALUE = Number.MAX_SAFE_INTEGER;
/** The smallest non-zero media_seconds: a real-time factor divides by it, so it must not make a finite duration infinite. */
export const MIN_MEDIA_SECONDS = 0.001;

function seconds(o: Obj, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Invalid(`${key}: expected a number of seconds >= 0, got ${show(v)}`);
  if (v > MAX_EVENT_VALUE) throw new Invalid(`${key}: ${v} is over ${MAX_EVENT_VALUE} seconds, past which sums are not exact and overflow to +Inf; send the duration in seconds`, 'value_out_of_range');
  return v;
}

function optSeconds(o: Obj, key: string): number | undefined {
  return o[key] === undefined ? undefined : seconds(o, key);
}

function mediaSeconds(o: Obj): number | undefined {
  const v = optSeconds(o, 'media_seconds');
  if (v !== undefined && v > 0 && v < MIN_MEDIA_SECONDS) {
    throw new Invalid(`media_seconds: ${v} is under ${MIN_MEDIA_SECONDS}; the real-time factor divides by it. Send 0 (or leave it out) when the media length is unknown`, 'value_out_of_range');
  }
  return v;
}

function count(o: Obj): number {
  const v = o.count;
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Invalid(`count: expected a whole number >= 0, got ${show(v)}`);
  // Past 2^53 a count is not exact, and a few such would carry a counter to +Inf.
  if (v > MAX_EVENT_VALUE) throw new Invalid(`count: ${v} is over ${MAX_EVENT_VALUE}; send a count a counter can add exactly`, 'value_out_of_range');
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[], fallback?: T): T {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new Invalid(`${key}: expected one of ${allowed.join(', ')}, got ${show(v)}`);
  return v as T;
}

/** The earliest instant an event may carry: 2000-01-01T00:00:00Z. An `at: 0` would make a 56-year duration. */
export const MIN_INSTANT_MS = Date.UTC(2000, 0, 1);
/** How far after the sidecar's clock an instant may be: clocks of other hosts run a little ahead. */
export const MAX_FUTURE_MS = 3600_000;

/** isPlausibleMs: an instant (Unix ms) an event or a restored record may hold, from 2000 to an hour after `now`. */
export function isPlausibleMs(ms: number, now: number): boolean {
  return ms >= MIN_INSTANT_MS && ms <= now + MAX_FUTURE_MS;
}

export type InstantResult = { ok: true; ms: number } | { ok: false; reason: 'invalid_event' | 'implausible_time'; message: string };

const epochRe = /^\d{1,20}(\.\d{1,9})?$/;
/** RFC 3339 needs a date, a time and a zone; Date.parse alone would take "2024" or local times. */
const rfc3339Re = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** iso writes an instant for a message; an instant past the year 275 760 has no Date. */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? 'a time after the year 275760' : d.toISOString();
}

/**
 * parseInstant reads RFC 3339 or epoch seconds (a number or a numeric string) into Unix ms, and refuses what is not an
 * instant a job could have: before 2000-01-01T00:00:00Z or more than an hour after `now` (the sidecar's clock, ms).
 * A value that would be in range as milliseconds, microseconds or nanoseconds is named as such: JavaScript's
 * `Date.now()` is milliseconds, Python's `time.time_ns()` nanoseconds.
 */
export function parseInstant(v: unknown, now: number): InstantResult {
  const syntax = (): InstantResult => ({ ok: false, reason: 'invalid_event', message: `expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds, got ${show(v)}` });
  let ms: number;
  let epoch: number | undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return syntax();
    epoch = v;
    ms = v * 1000;
  } else if (typeof v === 'string' && epochRe.test(v)) {
    epoch = Number(v);
    ms = epoch * 1000;
  } else if (typeof v === 'string' && rfc3339Re.test(v)) {
    ms = Date.parse(v);
    if (Number.isNaN(ms)) return syntax();
  } else return syntax();
  const latest = now + MAX_FUTURE_MS;
  if (isPlausibleMs(ms, now) && Number.isFinite(ms)) return { ok: true, ms };
  const implausible = (message: string): InstantResult => ({ ok: false, reason: 'implausible_time', message });
  if (epoch !== undefined && ms > latest) {
    for (const [unit, per] of [['milliseconds', 1e3], ['microseconds', 1e6], ['nanoseconds', 1e9]] as const) {
      const asUnit = epoch * (1000 / per);
      if (isPlausibleMs(asUnit, now)) {
        return implausible(`${show(v)} looks like ${unit} since the epoch (${iso(asUnit)}); send seconds (${epoch / per}) or RFC 3339`);
      }
    }
  }
  if (ms < MIN_INSTANT_MS) return implausible(`${show(v)} is before 2000-01-01T00:00:00Z; send the time in seconds since the epoch or RFC 3339, or leave it out to use the sidecar's clock`);
  return implausible(`${show(v)} is ${iso(ms)}, more than an hour after the sidecar's clock (${iso(now)}); send the time the event happened, in seconds since the epoch or RFC 3339`);
}

function instant(o: Obj, key: string, now: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const r = parseInstant(v, now);
  if (!r.ok) throw new Invalid(`${key}: ${r.message}`, r.reason);
  return r.ms;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    // JSON.parse takes nesting deeper than JSON.stringify can recurse: describe such a value, do not echo it.
    return Array.isArray(v) ? 'a deeply nested list' : 'a deeply nested object';
  }
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

const known: Record<EventType, readonly string[]> = {
  item_created: ['scraper', 'item_type', 'source', 'count'],
  schema_error: ['scraper', 'item_type', 'error_type', 'count'],
  scraper_run: ['scraper', 'outcome', 'duration_seconds'],
  job_queued: ['pipeline', 'job_id', 'initiated_at'],
  job_started: ['pipeline', 'job_id', 'queued_at', 'initiated_at'],
  stage: ['pipeline', 'job_id', 'stage', 'duration_seconds', 'outcome'],
  job_finished: ['pipeline', 'job_id', 'outcome', 'media_seconds', 'initiated_at', 'failed_stage', 'duration_seconds'],
  items: ['pipeline', 'outcome', 'count'],
  metric: ['name', 'labels', 'value'],
};

export const eventTypes = Object.keys(known) as EventType[];

/**
 * parseEvent validates one JSON value into a typed event. `now` fills a missing `at`; `families`
 * are the custom families a `metric` event may write. Unknown fields are refused so typos show.
 */
export function parseEvent(raw: unknown, now: number, families: ReadonlyMap<string, DeclaredFamily>): Parsed<IngestEvent> {
  try {
    return { ok: true, value: build(raw, now, families) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.reason, message: err.message };
    throw err;
  }
}

function build(raw: unknown, now: number, families: ReadonlyMap<string, DeclaredFamily>): IngestEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Invalid(`expected a JSON object with a "type", got ${show(raw)}`);
  const o = raw as Obj;
  const type = o.type;
  if (typeof type !== 'string' || !Object.hasOwn(known, type)) {
    throw new Invalid(`type: expected one of ${eventTypes.join(', ')}, got ${show(type)}`, 'unknown_type');
  }
  const allowed = known[type as EventType];
  for (const k of Object.keys(o)) {
    if (k !== 'type' && k !== 'at' && !allowed.includes(k)) throw new Invalid(`${k}: unknown field for a ${type} event; its fields are ${allowed.join(', ')}, at`);
  }
  const at = instant(o, 'at', now) ?? now;
  switch (type as EventType) {
    case 'item_created':
      return { type: 'item_created', at, scraper: token(o, 'scraper'), itemType: token(o, 'item_type'), source: text(o, 'source', 2048), count: count(o) };
    case 'schema_error':
      return { type: 'schema_error', at, scraper: token(o, 'scraper'), itemType: token(o, 'item_type'), errorType: token(o, 'error_type'), count: count(o) };
    case 'scraper_run':
      return { type: 'scraper_run', at, scraper: token(o, 'scraper'), outcome: oneOf(o, 'outcome', ['success', 'failure']), durationSeconds: optSeconds(o, 'duration_seconds') };
    case 'job_queued':
      return { type: 'job_queued', at, pipeline: token(o, 'pipeline'), jobId: jobIdOf(o), initiatedAt: instant(o, 'initiated_at', now) };
    case 'job_started':
      return { type: 'job_started', at, pipeline: token(o, 'pipeline'), jobId: jobIdOf(o), queuedAt: instant(o, 'queued_at', now), initiatedAt: instant(o, 'initiated_at', now) };
    case 'stage':
      return {
        type: 'stage',
        at,
        pipeline: token(o, 'pipeline'),
        jobId: o.job_id === undefined ? undefined : jobIdOf(o),
        stage: token(o, 'stage'),
        durationSeconds: seconds(o, 'duration_seconds'),
        outcome: oneOf(o, 'outcome', stageOutcomes, 'success'),
      };
    case 'job_finished':
      return {
        type: 'job_finished',
        at,
        pipeline: token(o, 'pipeline'),
        jobId: jobIdOf(o),
        outcome: oneOf(o, 'outcome', jobOutcomes.filter((x): x is Exclude<JobOutcome, 'abandoned'> => x !== 'abandoned')),
        mediaSeconds: mediaSeconds(o),
        initiatedAt: instant(o, 'initiated_at', now),
        failedStage: optToken(o, 'failed_stage'),
        durationSeconds: optSeconds(o, 'duration_seconds'),
      };
    case 'items':
      return { type: 'items', at, pipeline: token(o, 'pipeline'), outcome: token(o, 'outcome'), count: count(o) };
    case 'metric':
      return metric(o, at, families);
  }
}

function metric(o: Obj, at: number, families: ReadonlyMap<string, DeclaredFamily>): MetricEvent {
  const name = o.name;
  const fam = typeof name === 'string' ? families.get(name) : undefined;
  if (fam === undefined) {
    const names = [...families.keys()];
    throw new Invalid(`name: ${show(name)} is not a declared family; declare it under "families:" in the config${names.length > 0 ? ` (declared: ${names.join(', ')})` : ''}`, 'unknown_family');
  }
  const l = o.labels ?? {};
  if (l === null || typeof l !== 'object' || Array.isArray(l)) throw new Invalid(`labels: expected an object of label values, got ${show(l)}`);
  const labels: Record<string, string> = {};
  for (const k of Object.keys(l)) {
    if (!fam.labels.includes(k)) throw new Invalid(`labels.${k}: ${name as string} has no label "${k}"; its labels are ${fam.labels.join(', ') || '(none)'}`);
  }
  for (const k of fam.labels) {
    const v = (l as Obj)[k];
    if (typeof v !== 'string' || v.length > labelValueMax) throw new Invalid(`labels.${k}: expected a string of at most ${labelValueMax} characters, got ${show(v)}`);
    if (loneSurrogateRe.test(v)) throw new Invalid(loneSurrogate(`labels.${k}`));
    labels[k] = v;
  }
  const value = o.value ?? 1;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Invalid(`value: expected a finite number, got ${show(value)}`);
  if (fam.type === 'counter' && value < 0) throw new Invalid(`value: ${name as string} is a counter and only goes up; send an increment >= 0, got ${value}`);
  // A gauge is set, so any finite value stays finite; what a counter adds or a histogram sums is bounded.
  if (fam.type !== 'gauge' && Math.abs(value) > MAX_EVENT_VALUE) {
    throw new Invalid(`value: ${value} is over ${MAX_EVENT_VALUE}, past which ${name as string} would not add exactly and could overflow to +Inf; send it in a larger unit`, 'value_out_of_range');
  }
  return { type: 'metric', at, name: name as string, labels, value };
}
