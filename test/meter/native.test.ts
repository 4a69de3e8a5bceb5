import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { createMeter } from '../../src/index.js';
import type { HistogramSeries } from '../../src/meter/series.js';
import {
  NativeBuckets,
  type NativeState,
  keyOf,
  mergeNativeState,
  nativeProblem,
  nativeSpec,
  nativeState,
  observeNative,
  spansAndDeltas,
  spansOf,
  upperBound,
} from '../../src/meter/native.js';

const spec = (o: Parameters<typeof nativeSpec>[0] = true) => nativeSpec(o)!;

/** counts reads a sign's buckets back as key -> count, without the empty slots. */
function counts(arr: readonly number[], offset: number): Map<number, number> {
  const m = new Map<number, number>();
  arr.forEach((c, i) => c !== 0 && m.set(offset + i, c));
  return m;
}

function total(n: NativeBuckets): number {
  return n.zeroCount + n.positive.reduce((a, b) => a + b, 0) + n.negative.reduce((a, b) => a + b, 0);
}

describe('bucket keys', () => {
  it('defaults to client_golang\'s: schema 3 (factor 1.1), 160 buckets, zero threshold 2^-128', () => {
    expect(nativeSpec(true)).toMatchObject({ schema: 3, maxBuckets: 160, zeroThreshold: 2.938735877055719e-39, maxSpan: 320 });
    expect(nativeSpec(false)).toBeUndefined();
    expect(nativeSpec({ schema: 0, maxBuckets: 20 })).toMatchObject({ schema: 0, maxBuckets: 20, maxSpan: 40 });
  });

  // Bucket k holds (2^((k-1)/2^s), 2^(k/2^s)]: 1 is the upper bound of bucket 0 at every schema.
  it.each([
    [1, 3, 0],
    [2, 3, 8],
    [0.5, 3, -8],
    [1.0001, 3, 1],
    [1.09, 3, 1],
    [1.091, 3, 2],
    [1, 0, 0],
    [1.5, 0, 1],
    [2, 0, 1],
    [2.0001, 0, 2],
    [3, -1, 1],
    [4, -1, 1],
    [4.1, -1, 2],
    [0.3, -1, 0],
    [0.2, -1, -1],
    [65536, -4, 1],
    [65537, -4, 2],
  ])('%d at schema %d is in bucket %d', (v, schema, key) => {
    expect(keyOf(v, schema)).toBe(key);
  });

  it('puts every value between the bounds of its bucket, at every schema (subnormals included)', () => {
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), fc.integer({ min: -4, max: 8 }), (v, schema) => {
        const k = keyOf(v, schema);
        const lo = upperBound(k - 1, schema);
        const hi = upperBound(k, schema);
        // Math.pow is within an ulp of the exact bound: only values that close to a boundary may sit beside it.
        fc.pre(hi === Infinity || (Math.abs(v - hi) > hi * 1e-15 && Math.abs(v - lo) > lo * 1e-15));
        expect(v).toBeGreaterThan(lo);
        expect(v).toBeLessThanOrEqual(hi);
      }),
      { numRuns: 5000 },
    );
  });

  it('counts a value equal to an upper bound in that bucket (bounds are inclusive)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -4, max: 8 }), fc.integer({ min: -2000, max: 2000 }), (schema, k) => {
        const b = upperBound(k, schema);
        fc.pre(b > 0 && b < Infinity);
        expect(keyOf(b, schema)).toBe(k);
      }),
      { numRuns: 3000 },
    );
  });

  it('uses the boundaries Prometheus uses (client_golang\'s schema 3 table, within an ulp)', () => {
    const golang = [0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048, 0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711];
    golang.forEach((b, i) => expect(Math.abs(upperBound(i - 8, 3) - b)).toBeLessThanOrEqual(2 * Number.EPSILON));
  });
});

describe('observing', () => {
  it('counts positive, negative and zero-bucket observations apart', () => {
    const n = new NativeBuckets(spec({ schema: 0, zeroThreshold: 0.001 }));
    for (const v of [1, 1.5, 2, 3, -1, -0.0005, 0, 0.001, 100]) observeNative(n, v);
    expect(counts(n.positive, n.posOffset)).toEqual(new Map([[0, 1], [1, 2], [2, 1], [7, 1]]));
    expect(counts(n.negative, n.negOffset)).toEqual(new Map([[0, 1]]));
    expect(n.zeroCount).toBe(3);
    expect(n.populated).toBe(5);
  });

  it('counts each value in the bucket keyOf names, on the fast path and off it, at every schema', () => {
    fc.assert(
      fc.property(
        // Four powers of two: 1 024 slots at schema 8, within maxSpan, so the resolution stays.
        fc.array(fc.oneof(fc.double({ min: 0.5, max: 8, noNaN: true }), fc.double({ min: -8, max: -0.5, noNaN: true }), fc.constant(0)), { maxLength: 300 }),
        fc.integer({ min: -4, max: 8 }),
        (values, schema) => {
          const n = new NativeBuckets(spec({ schema, maxBuckets: 1000, zeroThreshold: 0 }));
          const want = { pos: new Map<number, number>(), neg: new Map<number, number>(), zero: 0 };
          for (const v of values) {
            observeNative(n, v);
            observeNative(n, v); // the second lands on the fast path when the first populated the bucket
            const m = v > 0 ? want.pos : v < 0 ? want.neg : undefined;
            if (m === undefined) want.zero += 2;
            else m.set(keyOf(Math.abs(v), schema), (m.get(keyOf(Math.abs(v), schema)) ?? 0) + 2);
          }
          fc.pre(n.schema === schema);
          expect(counts(n.positive, n.posOffset)).toEqual(want.pos);
          expect(counts(n.negative, n.negOffset)).toEqual(want.neg);
          expect(n.zeroCount).toBe(want.zero);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('halves the resolution when a series holds more than maxBuckets, keeping every observation', () => {
    const n = new NativeBuckets(spec({ maxBuckets: 10 }));
    const values = Array.from({ length: 1000 }, (_, i) => 0.001 * 1.02 ** i);
    for (const v of values) observeNative(n, v);
    expect(n.populated).toBeLessThanOrEqual(10);
    expect(n.schema).toBeLessThan(3);
    expect(total(n)).toBe(1000);
    // Still the same histogram: each value lies in the bucket that counts it at the lowered schema.
    const byKey = new Map<number, number>();
    for (const v of values) byKey.set(keyOf(v, n.schema), (byKey.get(keyOf(v, n.schema)) ?? 0) + 1);
    expect(counts(n.positive, n.posOffset)).toEqual(byKey);
  });

  it('stops at schema -4 and bounds each array by maxSpan, so far-apart values cannot grow a series without bound', () => {
    const n = new NativeBuckets(spec({ maxBuckets: 4 }));
    for (const v of [1e-300, 1e300, -1e-300, -1e300, 1, 1e10, 1e-10, 1e100, 1e-100]) observeNative(n, v);
    expect(n.schema).toBe(-4);
    expect(n.positive.length).toBeLessThanOrEqual(2 * 1024 / 16 + 2);
    expect(total(n)).toBe(9);
    // 1e-30 is above the zero threshold (2^-128 ~ 2.9e-39): 1600 slots apart at schema 3.
    const wide = new NativeBuckets(spec({ maxBuckets: 160 }));
    observeNative(wide, 1e-30);
    observeNative(wide, 1e30);
    expect(wide.populated).toBe(2);
    expect(wide.positive.length).toBeLessThanOrEqual(320);
    expect(wide.schema).toBeLessThan(3);
  });
});

describe('state and merge', () => {
  const values = fc.array(fc.oneof(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: -1e-6, noNaN: true }), fc.constant(0)), { maxLength: 200 });

  it('merging two series equals observing both into one, at the coarser schema', () => {
    fc.assert(
      fc.property(values, values, fc.integer({ min: 0, max: 3 }), (a, b, lower) => {
        const s = spec({ schema: 4, maxBuckets: 1000 });
        const x = new NativeBuckets(s);
        const y = new NativeBuckets({ ...s, schema: 4 - lower });
        const both = new NativeBuckets({ ...s, schema: 4 - lower });
        for (const v of a) observeNative(x, v), observeNative(both, v);
        for (const v of b) observeNative(y, v), observeNative(both, v);
        expect(mergeNativeState(x, JSON.parse(JSON.stringify(nativeState(y))) as NativeState)).toBe(true);
        expect(x.schema).toBe(both.schema);
        expect(x.zeroCount).toBe(both.zeroCount);
        expect(counts(x.positive, x.posOffset)).toEqual(counts(both.positive, both.posOffset));
        expect(counts(x.negative, x.negOffset)).toEqual(counts(both.negative, both.negOffset));
        expect(x.populated).toBe(both.populated);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a state with another zero threshold', () => {
    const x = new NativeBuckets(spec());
    const y = new NativeBuckets(spec({ zeroThreshold: 1e-9 }));
    observeNative(y, 1);
    expect(mergeNativeState(x, nativeState(y))).toBe(false);
    expect(total(x)).toBe(0);
  });
});

describe('spans and deltas', () => {
  it('keeps gaps of one or two empty buckets inside a span and starts a new span past that', () => {
    const out = spansAndDeltas();
    const read = () => ({ spans: [...out.spans.subarray(0, 2 * out.nSpans)], deltas: [...out.deltas.subarray(0, out.nDeltas)] });
    // keys -2..9: counts at -2, -1, 1 (gap 1), 4 (gap 2), 8 (gap 3)
    spansOf([3, 1, 0, 2, 0, 0, 5, 0, 0, 0, 1], -2, out);
    expect(read()).toEqual({ spans: [-2, 7, 3, 1], deltas: [3, -2, -1, 2, -2, 0, 5, -4] });
    spansOf([], 0, out);
    expect(read()).toEqual({ spans: [], deltas: [] });
  });

  it('decodes back to the same buckets', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 5 }), { maxLength: 60 }), fc.integer({ min: -50, max: 50 }), (arr, offset) => {
        const out = spansAndDeltas();
        spansOf(arr, offset, out);
        expect(out.nDeltas).toBeLessThanOrEqual(arr.length);
        const back = new Map<number, number>();
        let key = 0;
        let d = 0;
        let c = 0;
        for (let s = 0; s < 2 * out.nSpans; s += 2) {
          key += out.spans[s]!;
          for (let i = 0; i < out.spans[s + 1]!; i++, key++) {
            c += out.deltas[d++]!;
            if (c !== 0) back.set(key, c);
          }
        }
        expect(back).toEqual(counts(arr, offset));
      }),
    );
  });
});

describe('nativeProblem', () => {
  it.each([
    [{ schema: 9 }, /schema must be an integer from -4 to 8/],
    [{ schema: 1.5 }, /schema must be an integer/],
    [{ maxBuckets: 0 }, /maxBuckets must be an integer from 1 to 1000/],
    [{ maxBuckets: 5000 }, /maxBuckets must be an integer from 1 to 1000/],
    [{ zeroThreshold: -1 }, /zeroThreshold must be a finite number >= 0/],
    [{ zeroThreshold: Infinity }, /zeroThreshold/],
    [{ factor: 1.1 }, /native.factor is not a setting/],
    ['yes', /native must be true, false or/],
    [null, /native must be true, false or/],
  ])('%j: %s', (native, want) => {
    expect(nativeProblem(native)).toMatch(want);
  });

  it.each([[true], [false], [undefined], [{}], [{ schema: -4, maxBuckets: 1000, zeroThreshold: 0 }]])('%j is valid', (native) => {
    expect(nativeProblem(native)).toBeUndefined();
  });
});

describe('native histograms in a meter', () => {
  const quiet = (o: Parameters<typeof createMeter>[0] = {}) => createMeter({ defaultMetrics: false, logger: () => {}, ...o });

  it('gives the catalog\'s duration histograms native buckets by default, and nothing else', () => {
    const m = quiet();
    const native = [...m.allFamilies()].filter((f) => f.native !== undefined).map((f) => f.name);
    expect(native.sort()).toEqual(
      ['pipeline_job_duration_seconds', 'pipeline_job_e2e_duration_seconds', 'pipeline_queue_wait_seconds', 'pipeline_stage_duration_seconds', 'scraper_run_duration_seconds'].sort(),
    );
    expect(catalog.filter((f) => f.native === true).every((f) => f.type === 'histogram' && f.unit === 'seconds')).toBe(true);
  });

  it('turns them off, on, or tunes them per family through the meter options', () => {
    const m = quiet({ families: { pipeline_stage_duration_seconds: { native: false }, pipeline_realtime_factor: { native: { schema: 5, maxBuckets: 80 } } } });
    expect(m.getFamily('pipeline_stage_duration_seconds')!.native).toBeUndefined();
    expect(m.getFamily('pipeline_realtime_factor')!.native).toMatchObject({ schema: 5, maxBuckets: 80, zeroThreshold: 2 ** -128, maxSpan: 160 });
  });

  it('records into the native buckets of a custom histogram by label values and through a bound handle', () => {
    const m = quiet();
    const h = m.histogram({ name: 'fetch_seconds', help: 'Fetch.', labels: ['site'], buckets: [1], native: { schema: 0 } });
    h.observe({ site: 'a' }, 3);
    h.labels({ site: 'a' }).observe(3.5);
    h.observe({ site: 'a' }, Number.NaN);
    const s = m.getFamily('fetch_seconds')!.series.values().next().value as HistogramSeries;
    expect(s.count).toBe(2);
    expect(counts(s.native!.positive, s.native!.posOffset)).toEqual(new Map([[2, 2]]));
  });

  it('counts each halving of a series\' resolution in pipemeter_native_histogram_resolution_reductions_total{metric}', async () => {
    const m = quiet();
    const h = m.histogram({ name: 'spread_seconds', help: 'Spread.', buckets: [1], native: { maxBuckets: 10 } });
    expect(await m.metrics()).not.toContain('pipemeter_native_histogram_resolution_reductions_total{');
    for (let i = 0; i < 400; i++) h.observe({}, 1.03 ** i);
    const s = m.getFamily('spread_seconds')!.series.values().next().value as HistogramSeries;
    expect(s.native!.schema).toBeLessThan(3);
    expect(await m.metrics()).toContain(`pipemeter_native_histogram_resolution_reductions_total{metric="spread_seconds"} ${3 - s.native!.schema}\n`);
  });

  it('counts the classic buckets of a native-enabled histogram exactly as a classic one does (the native key only shortens the search)', () => {
    const bounds = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
    const near = fc.constantFrom(...bounds).chain((b) => fc.constantFrom(b, b * (1 + 1e-15), b * (1 - 1e-15), b * 1.0001, b / 1.0001));
    fc.assert(
      fc.property(
        fc.array(fc.oneof(near, fc.double({ min: -100, max: 1e5, noNaN: true }), fc.constant(0)), { maxLength: 300 }),
        fc.constantFrom(-1, 0, 3, 8),
        fc.integer({ min: 4, max: 160 }),
        (values, schema, maxBuckets) => {
          const m = quiet();
          const classic = m.histogram({ name: 'c_seconds', help: 'C.', buckets: bounds });
          const native = m.histogram({ name: 'n_seconds', help: 'N.', buckets: bounds, native: { schema, maxBuckets } });
          for (const v of values) {
            classic.observe({}, v);
            native.observe({}, v);
          }
          const series = (name: string) => m.getFamily(name)!.series.values().next().value as HistogramSeries | undefined;
          expect(series('n_seconds')?.counts).toEqual(series('c_seconds')?.counts);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a counter', () => quiet().counter({ name: 'x_total', help: 'X.', native: true } as never), /E_FAMILY_NATIVE|only histograms have native buckets/],
    ['a bad schema', () => quiet().histogram({ name: 'x_seconds', help: 'X.', buckets: [1], native: { schema: 12 } }), /native.schema must be an integer from -4 to 8/],
    ['an override on a gauge', () => quiet({ families: { pipeline_queue_depth: { native: true } } }), /families.pipeline_queue_depth: .*only histograms have native buckets/],
    ['a bad override', () => quiet({ families: { pipeline_stage_duration_seconds: { native: { maxBuckets: -1 } } } }), /native.maxBuckets must be an integer from 1 to 1000/],
  ])('refuses native on %s, saying what to fix', (_what, make, want) => {
    expect(make).toThrow(want);
    try {
      make();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('E_FAMILY_NATIVE');
    }
  });
});

describe('docs/metrics.md', () => {
  it('runs the native histogram settings example as written', () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const code = /## Native histograms[\s\S]*?```ts\n([\s\S]*?)```/.exec(doc)![1]!;
    const meter = createMeter({ defaultMetrics: false });
    let made: ReturnType<typeof createMeter> | undefined;
    const run = new Function('createMeter', 'meter', code) as (c: typeof createMeter, m: typeof meter) => void;
    run((o) => (made = createMeter({ ...o, defaultMetrics: false })), meter);
    expect(made!.getFamily('pipeline_stage_duration_seconds')!.native).toBeUndefined();
    expect(meter.getFamily('fetch_seconds')!.native).toMatchObject({ schema: 3, maxBuckets: 160 });
    expect(meter.getFamily('size_bytes')!.native).toMatchObject({ schema: 2, maxBuckets: 80, zeroThreshold: 1 });
  });
});
