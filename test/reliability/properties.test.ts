/**
 * Property tests (fast-check): any label value round-trips through our exposition and promtool takes it;
 * counters never decrease while their series lives, across random writes, expiry sweeps and restarts.
 */
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { type Format } from '../../src/exposition/render.js';
import { parseExposition } from '../../src/exposition/parse.js';
import { promtoolCheckMetrics, which } from '../helpers/tools.js';
import { fakeClock, makeSidecar, memoryFs } from '../sidecar/fixtures.js';

/** Strings with the characters an exposition must escape or carry raw, and any Unicode scalar value. */
const labelValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: fc.constantFrom('\\', '"', '\n', '\r', '\t', '\u0000', '\u007f', '{', '}', ',', '=', ' ', '#', 'a', 'é', '🦀', '\u2028'), maxLength: 16 }),
);

/** Every value generated, checked by promtool at the end in one exposition (one process, not one per run). */
const seen = new Set<string>();

function valuesOf(text: string, format: Format, family: string): Map<string, number> {
  const parsed = parseExposition(text, format);
  expect(parsed.problems.filter((p) => p.severity === 'error')).toEqual([]);
  const out = new Map<string, number>();
  for (const s of parsed.families.find((f) => f.name === family)?.samples ?? []) out.set(s.labels.value!, s.value);
  return out;
}

describe('label values round-trip through the exposition', () => {
  it.each(['text', 'openmetrics'] as const)('%s: render, then parseExposition, gives back every value and its count', async (format) => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(labelValue, { minLength: 1, maxLength: 30 }), async (values) => {
        const meter = createMeter({ defaultMetrics: false, logger: () => {} });
        const c = meter.counter({ name: 'rt_values_total', help: 'Values.', labels: ['value'] });
        values.forEach((v, i) => c.inc({ value: v }, i + 1));
        for (const v of values) seen.add(v);
        const got = valuesOf(await meter.render(format), format, format === 'text' ? 'rt_values_total' : 'rt_values');
        expect(got).toEqual(new Map(values.map((v, i) => [v, i + 1])));
      }),
      { numRuns: 150 },
    );
  });

  it('promtool check metrics takes every generated value, all in one exposition', async () => {
    expect(seen.size).toBeGreaterThan(1000);
    const meter = createMeter({ defaultMetrics: false, maxSeries: seen.size + 1, logger: () => {} });
    const c = meter.counter({ name: 'rt_values_total', help: 'Values.', labels: ['value'] });
    for (const v of seen) c.inc({ value: v });
    const text = await meter.metrics();
    expect(valuesOf(text, 'text', 'rt_values_total').size).toBe(seen.size);
    if (which('promtool') === undefined && process.env.CI !== 'true') return console.warn('skipping the promtool half: promtool is not on PATH');
    expect(promtoolCheckMetrics(text)).toEqual({ code: 0, findings: '' });
    console.log(`properties: ${seen.size} distinct label values round-tripped and passed promtool check metrics`);
  });

  it('a value with a lone surrogate (no UTF-8 form) is refused and counted, never rendered as U+FFFD', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 8 }), fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), fc.string({ maxLength: 8 }), async (a, lone, b) => {
        fc.pre(!/[\ud800-\udbff]$/.test(a) && !/^[\udc00-\udfff]/.test(b));
        const meter = createMeter({ defaultMetrics: false, logger: () => {} });
        const c = meter.counter({ name: 'rt_values_total', help: 'Values.', labels: ['value'] });
        c.inc({ value: a + lone + b });
        const text = await meter.metrics();
        expect(text).not.toContain('rt_values_total{');
        expect(text).toContain('pipemeter_instrumentation_errors_total{reason="invalid_labels"} 1\n');
      }),
      { numRuns: 100 },
    );
  });
});

/*
 * "Never decreases while the series lives": a series' life starts when a write creates it and ends
 * when an expiry sweep removes it or the process stops. Within one life every scrape shows the exact
 * sum of the increments of that life, so it never goes down. A sweep at time s removes a series only
 * when no write came since the sweep that last saw it written, and that sweep was >= ttl before s:
 * a series written at t lives at least until t + ttl. A new life starts at 0, which Prometheus's
 * rate() reads as a counter reset, like a process restart.
 */
type Op = { op: 'inc'; series: number; n: number } | { op: 'advance'; ms: number } | { op: 'sweep' } | { op: 'scrape' };

const TTL = 60_000;
const ops = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('inc' as const), series: fc.integer({ min: 0, max: 4 }), n: fc.integer({ min: 0, max: 1000 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2 * TTL }) }) },
    { weight: 2, arbitrary: fc.constant({ op: 'sweep' as const }) },
    { weight: 2, arbitrary: fc.constant({ op: 'scrape' as const }) },
  ),
  { maxLength: 80 },
);

describe('counters never decrease while the series lives', () => {
  it('random writes, clock jumps, expiry sweeps (meter.expireIdle) and scrapes', async () => {
    await fc.assert(
      fc.asyncProperty(ops, async (list: Op[]) => {
        const meter = createMeter({ defaultMetrics: false, logger: () => {} });
        const c = meter.counter({ name: 'mono_events_total', help: 'Events.', labels: ['value'] });
        // Series 0 is pinned (a declared series, started at 0): it never expires.
        c.labels({ value: 's0' });
        let now = 1_000_000;
        const model = new Map<string, { value: number; lastWrite: number }>([['s0', { value: 0, lastWrite: -Infinity }]]);
        let lastScrape = new Map<string, number>();
        for (const o of [...list, { op: 'scrape' } as Op]) {
          if (o.op === 'inc') {
            const k = `s${o.series}`;
            c.inc({ value: k }, o.n);
            const m = model.get(k) ?? { value: 0, lastWrite: now };
            model.set(k, { value: m.value + o.n, lastWrite: now });
          } else if (o.op === 'advance') {
            now += o.ms;
          } else if (o.op === 'sweep') {
            meter.expireIdle(TTL, now);
            const present = valuesOf(await meter.metrics(), 'text', 'mono_events_total');
            for (const [k, m] of model) {
              if (present.has(k)) continue;
              // Only a series idle for at least the TTL may go, and never the pinned one.
              expect(k).not.toBe('s0');
              expect(now - m.lastWrite).toBeGreaterThanOrEqual(TTL);
              model.delete(k);
              lastScrape.delete(k);
            }
          } else {
            const got = valuesOf(await meter.metrics(), 'text', 'mono_events_total');
            expect(got).toEqual(new Map([...model].map(([k, m]) => [k, m.value])));
            for (const [k, v] of got) expect(v).toBeGreaterThanOrEqual(lastScrape.get(k) ?? 0);
            lastScrape = got;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an idle series is gone by the first sweep at least one TTL after the sweep that last saw it written: memory does not keep dead series', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: TTL / 4 }), { minLength: 1, maxLength: 30 }), async (gaps) => {
        const meter = createMeter({ defaultMetrics: false, logger: () => {} });
        const c = meter.counter({ name: 'mono_events_total', help: 'Events.', labels: ['value'] });
        let now = 0;
        c.inc({ value: 'x' });
        meter.expireIdle(TTL, now);
        const seenAt = now;
        for (const g of gaps) {
          now += g;
          meter.expireIdle(TTL, now);
          const alive = meter.getFamily('mono_events_total')!.series.size === 1;
          expect(alive).toBe(now - seenAt < TTL);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('across restarts with the state file: jobs started and finished are counted once in total, whatever is replayed', async () => {
    const yaml = 'pipelines:\n  p: {}\nstate: { file: /state.json }\n';
    const ev = fc.record({ kind: fc.constantFrom('job_started', 'job_finished', 'restart', 'scrape'), id: fc.integer({ min: 0, max: 5 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(ev, { maxLength: 40 }), async (list) => {
        const fs = memoryFs();
        const clock = fakeClock();
        let t = makeSidecar(yaml, { fs, clock });
        await t.sidecar.start();
        const jobs = new Map<number, 'started' | 'finished'>();
        let wantStarted = 0;
        let wantFinished = 0;
        // The sum over process lives of each life's last value: what Prometheus's increase() adds up across resets.
        let doneStarted = 0;
        let doneFinished = 0;
        let last = { started: 0, finished: 0 };
        const scrape = async () => {
          const text = await t.sidecar.meter.metrics();
          const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
          const now = { started: num(/^pipeline_jobs_started_total\{pipeline="p"\} (\S+)$/m), finished: num(/^pipeline_jobs_finished_total\{pipeline="p",outcome="completed"\} (\S+)$/m) };
          expect(now.started).toBeGreaterThanOrEqual(last.started);
          expect(now.finished).toBeGreaterThanOrEqual(last.finished);
          last = now;
          return now;
        };
        for (const e of [...list, { kind: 'restart' as const, id: 0 }]) {
          clock.advance(1000);
          if (e.kind === 'restart') {
            const final = await scrape();
            doneStarted += final.started;
            doneFinished += final.finished;
            await t.sidecar.stop();
            t = makeSidecar(yaml, { fs, clock });
            await t.sidecar.start();
            last = { started: 0, finished: 0 };
          } else if (e.kind === 'scrape') {
            await scrape();
          } else {
            const state = jobs.get(e.id);
            if (e.kind === 'job_started' && state === undefined) {
              jobs.set(e.id, 'started');
              wantStarted++;
            }
            if (e.kind === 'job_finished' && state !== 'finished') {
              jobs.set(e.id, 'finished');
              wantFinished++;
            }
            const body = { type: e.kind, pipeline: 'p', job_id: `j${e.id}`, ...(e.kind === 'job_finished' ? { outcome: 'completed' } : {}) };
            await request(t.sidecar.ingestApp).post('/v1/events').send(body).expect(200);
          }
        }
        await t.sidecar.stop();
        expect({ started: doneStarted, finished: doneFinished }).toEqual({ started: wantStarted, finished: wantFinished });
      }),
      { numRuns: 60 },
    );
  });
});

afterAll(() => seen.clear());
