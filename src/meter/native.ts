/**
 * Native (sparse, exponential) histogram buckets as Prometheus defines them, with client_golang's defaults and its
 * bucket-limiting strategy (lower the resolution when a series holds too many buckets).
 *
 * At schema s every power of two is split into 2^s buckets: bucket k holds observations in (2^((k-1)/2^s), 2^(k/2^s)]
 * (for s <= 0, bucket k spans 2^-s powers of two). Observations with |v| <= the zero threshold count in the zero bucket.
 *
 * A series keeps its buckets in two dense arrays of counts, one per sign, each with the key of its first slot:
 *
 *     { schema, zeroCount, posOffset, positive: [c(posOffset), c(posOffset+1), ...], negOffset, negative: [...] }
 *
 * Counts are per bucket, not cumulative; a slot may be 0 (a gap between populated buckets). That is also the shape to
 * carry a series between processes (NativeState): two states of one family merge by lowering the finer one to the
 * coarser schema (mergeNativeState), which is exact, as every bucket of schema s-1 is the union of two of schema s.
 */
import { NATIVE_DEFAULTS, type NativeHistogramOptions } from '../catalog/index.js';

export const SCHEMA_MIN = -4;
export const SCHEMA_MAX = 8;
export const MAX_BUCKETS_LIMIT = 1000;

/** A family's resolved native settings, shared by its series. */
export interface NativeSpec {
  /** The schema every series starts at; a series lowers its own when it holds too many buckets. */
  readonly schema: number;
  readonly maxBuckets: number;
  readonly zeroThreshold: number;
  /**
   * The widest a sign's array may span (populated or not), 2 x maxBuckets: buckets are dense arrays, so a few
   * observations far apart (1e-300 and 1e300) would otherwise make one series hold thousands of empty slots.
   */
  readonly maxSpan: number;
  /** The high 32 bits of max(zeroThreshold, the smallest normal double): a positive value whose high bits are above it is above both. */
  readonly fastHi: number;
  /** The family's classic bucket bounds, for classicIndex. */
  readonly bounds: ArrayLike<number>;
  /**
   * Per schema (at index schema + 4), built on first use: where to start looking for the classic bucket of a value in
   * native bucket `key`, as start[key - lo] classic bounds lie below the native bucket's lower bound: a step or two
   * remain instead of a walk over every bound. Keys below a table start at 0, keys above it are past every bound.
   * `null` where the bounds span too many keys for a table.
   */
  readonly classic: (ClassicTable | null | undefined)[];
  /** Called each time a series halves its resolution: the meter counts it (pipemeter_native_histogram_resolution_reductions_total). */
  readonly reduced: () => void;
}

interface ClassicTable {
  readonly lo: number;
  readonly start: Int32Array;
}

/** The most native keys a classic-start table covers (4 bytes each); bounds spanning more are walked from the first. */
const CLASSIC_TABLE_MAX = 4096;

/**
 * nativeSpec resolves a family's `native` setting, for its classic bucket bounds; undefined when the family keeps
 * classic buckets only.
 */
export function nativeSpec(
  native: boolean | NativeHistogramOptions | undefined,
  bounds: ArrayLike<number> = [],
  reduced: () => void = () => {},
): NativeSpec | undefined {
  if (native === undefined || native === false) return undefined;
  const o = native === true ? {} : native;
  const maxBuckets = o.maxBuckets ?? NATIVE_DEFAULTS.maxBuckets;
  const zeroThreshold = o.zeroThreshold ?? NATIVE_DEFAULTS.zeroThreshold;
  return {
    schema: o.schema ?? NATIVE_DEFAULTS.schema,
    maxBuckets,
    zeroThreshold,
    maxSpan: 2 * maxBuckets,
    fastHi: highBits(Math.max(zeroThreshold, 2 ** -1022)),
    bounds,
    classic: [],
    reduced,
  };
}

/** classicTable builds the classic-start table of some bounds at one schema (see NativeSpec.classic). */
function classicTable(bounds: ArrayLike<number>, schema: number): ClassicTable | null {
  const first = bounds[0];
  const last = bounds[bounds.length - 1];
  if (first === undefined || last === undefined || !(first > 0)) return null;
  const lo = keyOf(first, schema) - 1;
  const hi = keyOf(last, schema) + 1;
  if (hi - lo >= CLASSIC_TABLE_MAX) return null;
  const start = new Int32Array(hi - lo + 1);
  for (let k = lo; k <= hi; k++) {
    // Bounds safely below the bucket's lower bound (an ulp of Math.pow aside), which no value of the bucket is under.
    const lower = upperBound(k - 1, schema) * (1 - 1e-12);
    let i = 0;
    while (i < bounds.length && bounds[i]! < lower) i++;
    start[k - lo] = i;
  }
  return { lo, start };
}

/** nativeProblem says what is wrong with a `native` setting, with the fix; undefined when it is valid. */
export function nativeProblem(native: unknown): string | undefined {
  if (native === undefined || typeof native === 'boolean') return undefined;
  if (native === null || typeof native !== 'object' || Array.isArray(native)) {
    return 'native must be true, false or { schema, maxBuckets, zeroThreshold }';
  }
  const o = native as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'schema' && k !== 'maxBuckets' && k !== 'zeroThreshold') return `native.${k} is not a setting; use schema, maxBuckets or zeroThreshold`;
  }
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (o.schema !== undefined && !(int(o.schema) && (o.schema as number) >= SCHEMA_MIN && (o.schema as number) <= SCHEMA_MAX)) {
    return `native.schema must be an integer from ${SCHEMA_MIN} to ${SCHEMA_MAX} (each power of two split into 2^schema buckets; 3 is a factor of 1.09 per bucket)`;
  }
  if (o.maxBuckets !== undefined && !(int(o.maxBuckets) && (o.maxBuckets as number) >= 1 && (o.maxBuckets as number) <= MAX_BUCKETS_LIMIT)) {
    return `native.maxBuckets must be an integer from 1 to ${MAX_BUCKETS_LIMIT}; 160 is the default`;
  }
  if (o.zeroThreshold !== undefined && !(typeof o.zeroThreshold === 'number' && o.zeroThreshold >= 0 && Number.isFinite(o.zeroThreshold))) {
    return 'native.zeroThreshold must be a finite number >= 0, e.g. 1e-9; the default is 2^-128';
  }
  return undefined;
}

/*
 * Bucket boundaries within one power of two, for schema > 0: BOUNDS[s][i] = 2^(i/2^s - 1), in [0.5, 1). A value whose
 * fraction (v = frac * 2^exp, frac in [0.5, 1)) is at most BOUNDS[s][i] belongs to the i-th bucket of its power of two.
 * Math.pow is within an ulp of Prometheus's table: an observation within ~1e-16 (relative) of a boundary may count in
 * the bucket beside it, far below any quantile's error.
 */
const BOUNDS: Float64Array[] = [];
for (let s = 0; s <= SCHEMA_MAX; s++) {
  const n = 1 << s;
  BOUNDS.push(Float64Array.from({ length: n }, (_, i) => (i === 0 ? 0.5 : Math.pow(2, i / n - 1))));
}

/** upperBound is the upper bound of bucket `key` at `schema` (the lower bound is that of key - 1). */
export function upperBound(key: number, schema: number): number {
  if (schema <= 0) return Math.pow(2, key * (1 << -schema));
  const n = 1 << schema;
  const i = ((key % n) + n) % n;
  return BOUNDS[schema]![i]! * Math.pow(2, (key - i) / n + 1);
}

// Reading a double's exponent and fraction through its bits (Math.frexp does not exist). Node runs little-endian.
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE ? 1 : 0;
const LO = LITTLE ? 0 : 1;

/*
 * For schema > 0 the bucket within a power of two is found from the mantissa bits, without a search: the top s+1 bits
 * pick one of 2^(s+1) bins, each holding at most one boundary (boundaries are at least ln2/2^s apart in the mantissa's
 * [0, 1) range, bins 1/2^(s+1) wide). TABLES[s] holds two numbers per bin: the mantissa (52 bits, exact in a double) of
 * the bin's boundary (Infinity when it has none), and how many boundaries lie before the bin.
 */
const TABLES: (Float64Array | undefined)[] = [];

/** mantissaTable returns TABLES[schema], built on first use (a linear pass over its bins). */
function mantissaTable(schema: number): Float64Array {
  const s = Math.max(0, schema);
  let t = TABLES[s];
  if (t !== undefined) return t;
  const bins = 1 << (s + 1);
  t = new Float64Array(2 * bins);
  for (let k = 0; k < bins; k++) t[2 * k] = Infinity;
  const b = BOUNDS[s]!;
  for (let i = 0; i < b.length; i++) {
    F64[0] = b[i]!;
    const m = U32[HI]! & 0xfffff;
    t[2 * (m >>> (19 - s))] = m * 4294967296 + U32[LO]!;
  }
  // Boundaries before each bin: a running count, the boundaries being in order.
  let below = 0;
  for (let k = 0; k < bins; k++) {
    t[2 * k + 1] = below;
    if (t[2 * k] !== Infinity) below++;
  }
  TABLES[s] = t;
  return t;
}

function highBits(v: number): number {
  F64[0] = v;
  return U32[HI]!;
}

/** Shared by every array that holds nothing yet: replaced, never written, on the first observation. */
const NONE: number[] = [];

/** A series' native buckets; see the module comment for the layout. */
export class NativeBuckets {
  schema: number;
  zeroCount = 0;
  /** Populated (non-zero) buckets of both signs: what maxBuckets limits. */
  populated = 0;
  posOffset = 0;
  positive: number[] = NONE;
  negOffset = 0;
  negative: number[] = NONE;
  /**
   * Kept here so the hot path reads them in one step: the mantissa table of the current schema (see TABLES), the
   * classic-start table of the current schema (see NativeSpec.classic), and the spec's fastHi.
   */
  table: Float64Array;
  classic: ClassicTable | null;
  readonly fastHi: number;
  constructor(readonly spec: NativeSpec) {
    this.schema = spec.schema;
    this.table = mantissaTable(spec.schema);
    this.classic = classicFor(spec, spec.schema);
    this.fastHi = spec.fastHi;
  }
}

/** classicFor returns a spec's classic-start table for one schema, built on first use. */
function classicFor(spec: NativeSpec, schema: number): ClassicTable | null {
  let t = spec.classic[schema + 4];
  if (t === undefined) t = spec.classic[schema + 4] = classicTable(spec.bounds, schema);
  return t;
}

/** keyOf returns the bucket of a > 0 (finite) at `schema`, as client_golang's observe computes it. */
export function keyOf(a: number, schema: number): number {
  // Before F64 is written: building a table uses it too.
  const t = schema > 0 ? mantissaTable(schema) : undefined;
  F64[0] = a;
  let hi = U32[HI]!;
  let adjust = 0;
  if (hi < 0x00100000) {
    // Subnormal: scale into the normal range (exact for a power of two) and take the scale back out of the exponent.
    F64[0] = a * 18446744073709551616;
    hi = U32[HI]!;
    adjust = -64;
  }
  // frexp's exponent: a = frac * 2^e with frac in [0.5, 1).
  const e = (hi >>> 20) - 1022 + adjust;
  const m = hi & 0xfffff;
  if (t !== undefined) {
    const bin = (m >>> (19 - schema)) << 1;
    // | 0: the table's numbers are doubles; a key kept as a small integer keeps the offsets small integers too.
    return (t[bin + 1]! + (m * 4294967296 + U32[LO]! > t[bin]! ? 1 : 0) + ((e - 1) << schema)) | 0;
  }
  // A power of two (frac exactly 0.5) is the upper bound of the bucket below.
  const key = m === 0 && U32[LO] === 0 ? e - 1 : e;
  const shift = -schema;
  return (key + (1 << shift) - 1) >> shift;
}

/**
 * observeNative counts a finite v in its bucket, then keeps the series within its bucket limits. It returns the bucket
 * key (at the series' schema) when v took the hot path (a positive normal value in an already populated bucket,
 * schema > 0; keyOf inlined), NaN otherwise (zero bucket, negative values, schema <= 0, subnormals, a new bucket:
 * observeOther).
 */
export function observeNative(n: NativeBuckets, v: number): number {
  F64[0] = v;
  const hi = U32[HI]!;
  const s = n.schema;
  // hi above the zero threshold's high word: v is above the threshold and normal; below 2^31: v is positive.
  if (hi > n.fastHi && hi < 0x80000000 && s > 0) {
    const t = n.table;
    const m = hi & 0xfffff;
    const bin = (m >>> (19 - s)) << 1;
    const key = (t[bin + 1]! + (m * 4294967296 + U32[LO]! > t[bin]! ? 1 : 0) + (((hi >>> 20) - 1023) << s)) | 0;
    const arr = n.positive;
    const j = key - n.posOffset;
    // j >>> 0 turns a negative j into one past any length: one comparison for both ends.
    if (j >>> 0 < arr.length) {
      const c = arr[j]!;
      if (c !== 0) {
        arr[j] = c + 1;
        return key;
      }
    }
  }
  observeOther(n, v);
  return NaN;
}

/**
 * classicIndex returns the slot of the first classic bound >= v (the +Inf slot when none is): from the table of the
 * series' schema when observeNative gave the key, else walking the bounds from the first.
 */
export function classicIndex(n: NativeBuckets, key: number, v: number, bounds: Float64Array): number {
  const len = bounds.length;
  let i = 0;
  const t = n.classic;
  if (key === key && t !== null) {
    const k = key - t.lo;
    i = k < 0 ? 0 : k < t.start.length ? t.start[k]! : len;
  }
  while (i < len && v > bounds[i]!) i++;
  return i;
}

function observeOther(n: NativeBuckets, v: number): void {
  const zt = n.spec.zeroThreshold;
  if (v > zt) {
    const key = keyOf(v, n.schema);
    const arr = n.positive;
    const j = key - n.posOffset;
    if (j >= 0 && j < arr.length) {
      if (arr[j]!++ === 0 && ++n.populated > n.spec.maxBuckets) limit(n);
    } else grow(n, key, true);
  } else if (v < -zt) {
    const key = keyOf(-v, n.schema);
    const arr = n.negative;
    const j = key - n.negOffset;
    if (j >= 0 && j < arr.length) {
      if (arr[j]!++ === 0 && ++n.populated > n.spec.maxBuckets) limit(n);
    } else grow(n, key, false);
  } else n.zeroCount++;
}

function zeros(length: number): number[] {
  // Pushed one by one: a packed array of small integers, which `new Array(n)` (holey) is not; then copied, as a copy
  // holds exactly its length where the pushed array keeps up to half again as much spare capacity.
  const a: number[] = [];
  for (let i = 0; i < length; i++) a.push(0);
  return a.slice();
}

/** widen makes one sign's array reach `key` (the new slots empty) and returns the slot of `key`. */
function widen(n: NativeBuckets, key: number, positive: boolean): number {
  const arr = positive ? n.positive : n.negative;
  const offset = positive ? n.posOffset : n.negOffset;
  let out: number[];
  let from: number;
  if (arr.length === 0) {
    out = [0];
    from = key;
  } else {
    from = Math.min(offset, key);
    out = zeros(Math.max(offset + arr.length - 1, key) - from + 1);
    for (let i = 0; i < arr.length; i++) out[offset - from + i] = arr[i]!;
  }
  if (positive) {
    n.positive = out;
    n.posOffset = from;
  } else {
    n.negative = out;
    n.negOffset = from;
  }
  return key - from;
}

/** grow counts one observation in a bucket outside the sign's array, then keeps the series within its limits. */
function grow(n: NativeBuckets, key: number, positive: boolean): void {
  const j = widen(n, key, positive);
  (positive ? n.positive : n.negative)[j] = 1;
  n.populated++;
  limit(n);
}

/**
 * limit halves the resolution (schema - 1, every bucket merged with its neighbour) until the series holds at most
 * maxBuckets populated buckets and spans at most maxSpan slots per sign, or reaches schema -4. client_golang does the
 * same when its limit is hit (without a reset interval or a maximum zero threshold, its defaults); the resolution
 * stays lowered for the life of the series, and the exposition carries it in the schema field.
 */
function limit(n: NativeBuckets): void {
  const { maxBuckets, maxSpan } = n.spec;
  while ((n.populated > maxBuckets || n.positive.length > maxSpan || n.negative.length > maxSpan) && n.schema > SCHEMA_MIN) halve(n);
}

/** The key at schema - 1 of bucket `key`: ceil(key / 2), as buckets 2j-1 and 2j merge into j. */
const halfKey = (key: number) => (key + 1) >> 1;

function halveArray(arr: number[], offset: number): [number[], number] {
  if (arr.length === 0) return [arr, 0];
  const from = halfKey(offset);
  const out = zeros(halfKey(offset + arr.length - 1) - from + 1);
  for (let i = 0; i < arr.length; i++) out[halfKey(offset + i) - from]! += arr[i]!;
  return [out, from];
}

function halve(n: NativeBuckets): void {
  n.spec.reduced();
  n.schema--;
  n.table = mantissaTable(n.schema);
  n.classic = classicFor(n.spec, n.schema);
  [n.positive, n.posOffset] = halveArray(n.positive, n.posOffset);
  [n.negative, n.negOffset] = halveArray(n.negative, n.negOffset);
  n.populated = populated(n.positive) + populated(n.negative);
}

function populated(arr: readonly number[]): number {
  let p = 0;
  for (const c of arr) if (c !== 0) p++;
  return p;
}

/** A series' native buckets as plain data: what a process hands another to merge (JSON-safe). */
export interface NativeState {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  positive: { offset: number; counts: number[] };
  negative: { offset: number; counts: number[] };
}

/** nativeState copies a series' buckets out. */
export function nativeState(n: NativeBuckets): NativeState {
  return {
    schema: n.schema,
    zeroThreshold: n.spec.zeroThreshold,
    zeroCount: n.zeroCount,
    positive: { offset: n.posOffset, counts: n.positive.slice() },
    negative: { offset: n.negOffset, counts: n.negative.slice() },
  };
}

/**
 * mergeNativeState adds another series' buckets (of the same family: the same zero threshold) into `n`, at the coarser
 * of the two schemas, then applies the bucket limits. Returns false, merging nothing, when the zero thresholds differ.
 */
export function mergeNativeState(n: NativeBuckets, s: NativeState): boolean {
  if (s.zeroThreshold !== n.spec.zeroThreshold) return false;
  while (n.schema > s.schema) halve(n);
  const add = (counts: readonly number[], offset: number, positive: boolean) => {
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      let key = offset + i;
      for (let d = s.schema; d > n.schema; d--) key = halfKey(key);
      addCount(n, key, c, positive);
    }
  };
  add(s.positive.counts, s.positive.offset, true);
  add(s.negative.counts, s.negative.offset, false);
  n.zeroCount += s.zeroCount;
  limit(n);
  return true;
}

/** addCount adds c observations to bucket `key` of one sign (no limits applied). */
function addCount(n: NativeBuckets, key: number, c: number, positive: boolean): void {
  let j = key - (positive ? n.posOffset : n.negOffset);
  if (j < 0 || j >= (positive ? n.positive : n.negative).length) j = widen(n, key, positive);
  const arr = positive ? n.positive : n.negative;
  if (arr[j] === 0) n.populated++;
  arr[j]! += c;
}

/**
 * Spans and deltas, as the protobuf exposition carries a sign's buckets: spans of consecutive buckets (the first
 * offset is the first key, later ones the gap since the previous span), and each bucket's count as the difference from
 * the previous bucket's. Gaps of one or two empty buckets stay inside a span as zero counts, as client_golang writes them.
 */
export interface SpansAndDeltas {
  /** offset, length, offset, length, ...: the first nSpans * 2 numbers. */
  spans: Int32Array;
  nSpans: number;
  /** The first nDeltas numbers. */
  deltas: Float64Array;
  nDeltas: number;
}

/** spansAndDeltas makes a reusable output for spansOf; it grows as needed. */
export function spansAndDeltas(): SpansAndDeltas {
  return { spans: new Int32Array(64), nSpans: 0, deltas: new Float64Array(256), nDeltas: 0 };
}

/** spansOf encodes one sign's dense array into `out` (overwritten), growing its arrays when they are too short. */
export function spansOf(arr: readonly number[], offset: number, out: SpansAndDeltas): void {
  // At most one span per populated slot and one delta per slot: size for that once, then write without checks.
  if (out.spans.length < 2 * arr.length) out.spans = new Int32Array(2 * arr.length);
  if (out.deltas.length < arr.length) out.deltas = new Float64Array(arr.length);
  const spans = out.spans;
  const deltas = out.deltas;
  let ns = 0;
  let nd = 0;
  let prev = 0;
  let next = 0;
  for (let i = 0; i < arr.length; i++) {
    const c = arr[i]!;
    if (c === 0) continue;
    const key = offset + i;
    const gap = key - next;
    if (ns === 0 || gap > 2) {
      spans[2 * ns] = ns === 0 ? key : gap;
      spans[2 * ns + 1] = 0;
      ns++;
    } else {
      for (let g = 0; g < gap; g++) {
        deltas[nd++] = 0 - prev;
        prev = 0;
      }
      spans[2 * ns - 1]! += gap;
    }
    deltas[nd++] = c - prev;
    prev = c;
    spans[2 * ns - 1]!++;
    next = key + 1;
  }
  out.nSpans = ns;
  out.nDeltas = nd;
}
