/**
 * The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily` messages (prometheus/client_model's
 * metrics.proto), the only format that carries native histograms. Encoded by hand, field by field in field-number
 * order, as protobufjs encodes the same messages: test/exposition/protobuf.test.ts decodes every message with
 * protobufjs and checks that encoding it again gives the same bytes; bench/native-histograms.ts measures it.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { MetricFamily } from '../meter/family.js';
import { spansAndDeltas, spansOf } from '../meter/native.js';
import type { Exemplar, HistogramSeries, Series } from '../meter/series.js';
import { SLICE_MS, omFamilyName } from './render.js';
import type { ByteWriter } from './writer.js';

/** MetricType of metrics.proto. */
const TYPE = { counter: 0, gauge: 1, summary: 2, untyped: 3, histogram: 4 } as const;

// Wire types and the one-byte tags (field << 3 | wire type) of the fields written here.
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const tag = (field: number, wire: number) => (field << 3) | wire;

const F64 = new Float64Array(1);
const U8 = new Uint8Array(F64.buffer);

/**
 * Scratch: one message at a time, in a growable buffer. A nested message reserves one byte for its length and moves
 * its body along when the length needs more (a body of 128 bytes or more), so nothing is sized twice.
 */
class Scratch {
  buf = Buffer.allocUnsafe(4096);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** varint writes a non-negative integer up to 2^53. */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 128) {
      // `& 127` reads the low bits of the 32-bit conversion, which keeps the low bits of any integer.
      buf[pos++] = (n & 127) | 128;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** sint writes a zigzag-encoded signed integer (sint32, sint64). */
  sint(n: number): void {
    this.varint(n >= 0 ? 2 * n : -2 * n - 1);
  }

  double(v: number): void {
    this.ensure(8);
    F64[0] = v;
    const buf = this.buf;
    const pos = this.pos;
    for (let i = 0; i < 8; i++) buf[pos + i] = U8[i]!;
    this.pos = pos + 8;
  }

  /** string writes a length-delimited UTF-8 string (field tag written by the caller). */
  string(s: string): void {
    const n = s.length;
    if (n < 128) {
      // ASCII, as nearly every name and label value is: copied here, no native call.
      this.ensure(n + 1);
      const buf = this.buf;
      let pos = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        buf[pos++] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = pos;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** begin starts a nested message after its tag; end(begin()) writes its length. */
  begin(): number {
    this.ensure(1);
    return ++this.pos;
  }

  end(start: number): void {
    const len = this.pos - start;
    if (len < 128) {
      this.buf[start - 1] = len;
      return;
    }
    let extra = 0;
    for (let x = len; x >= 128; x = Math.floor(x / 128)) extra++;
    this.ensure(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    const end = this.pos + extra;
    this.pos = start - 1;
    this.varint(len);
    this.pos = end;
  }
}

const scratch = new Scratch();
const spans = spansAndDeltas();

/** timestamp writes a google.protobuf.Timestamp of Unix milliseconds (proto3: zero fields left out). */
function timestamp(w: Scratch, field: number, ms: number): void {
  w.byte(tag(field, LEN));
  const at = w.begin();
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (seconds !== 0) {
    w.byte(tag(1, VARINT));
    w.varint(seconds);
  }
  if (nanos !== 0) {
    w.byte(tag(2, VARINT));
    w.varint(nanos);
  }
  w.end(at);
}

function labelPair(w: Scratch, field: number, name: string, value: string): void {
  w.byte(tag(field, LEN));
  const at = w.begin();
  w.byte(tag(1, LEN));
  w.string(name);
  w.byte(tag(2, LEN));
  w.string(value);
  w.end(at);
}

function exemplar(w: Scratch, field: number, e: Exemplar): void {
  w.byte(tag(field, LEN));
  const at = w.begin();
  for (const k in e.labels) labelPair(w, 1, k, e.labels[k]!);
  w.byte(tag(2, FIXED64));
  w.double(e.value);
  timestamp(w, 3, Math.round(e.timestamp * 1000));
  w.end(at);
}

/** A family's label names as encoded LabelPair name fields (`0a <len> name`), built once per family. */
const labelNamesCache = new WeakMap<MetricFamily, Buffer[]>();
function labelNames(f: MetricFamily): Buffer[] {
  let names = labelNamesCache.get(f);
  if (names === undefined) {
    names = f.labelNames.map((n) => {
      // The Scratch writer's own length prefix: a varint, so a name of 128 bytes or more is framed right too.
      const w = new Scratch();
      w.byte(tag(1, LEN));
      w.string(n);
      return Buffer.from(w.buf.subarray(0, w.pos));
    });
    labelNamesCache.set(f, names);
  }
  return names;
}

function nativeBuckets(w: Scratch, arr: readonly number[], offset: number, spanField: number, deltaField: number): void {
  spansOf(arr, offset, spans);
  const sp = spans.spans;
  for (let i = 0; i < spans.nSpans; i++) {
    w.byte(tag(spanField, LEN));
    const at = w.begin();
    w.byte(tag(1, VARINT));
    w.sint(sp[2 * i]!);
    w.byte(tag(2, VARINT));
    w.varint(sp[2 * i + 1]!);
    w.end(at);
  }
  // proto2 without [packed=true]: one tag per delta, as client_golang and protobufjs write them. A tag and a zigzag
  // varint take at most 11 bytes: room for all of them first, then a loop without checks.
  const d = spans.deltas;
  const n = spans.nDeltas;
  const t = tag(deltaField, VARINT);
  w.ensure(11 * n);
  const buf = w.buf;
  let pos = w.pos;
  for (let i = 0; i < n; i++) {
    const x = d[i]!;
    let z = x >= 0 ? 2 * x : -2 * x - 1;
    buf[pos++] = t;
    while (z >= 128) {
      buf[pos++] = (z & 127) | 128;
      z = z < 2147483648 ? z >>> 7 : Math.floor(z / 128);
    }
    buf[pos++] = z;
  }
  w.pos = pos;
}

function histogram(w: Scratch, f: MetricFamily, s: HistogramSeries): void {
  w.byte(tag(7, LEN));
  const at = w.begin();
  w.byte(tag(1, VARINT));
  w.varint(s.count);
  w.byte(tag(2, FIXED64));
  w.double(s.sum);
  const bounds = f.upperBounds;
  const counts = s.counts;
  let cum = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cum += counts[i]!;
    const e = s.exemplars[i];
    // The +Inf bucket is optional (sample_count is its count): written only to carry its exemplar, as client_golang does.
    if (i === bounds.length && e === undefined) break;
    w.byte(tag(3, LEN));
    const b = w.begin();
    w.byte(tag(1, VARINT));
    w.varint(cum);
    w.byte(tag(2, FIXED64));
    w.double(i === bounds.length ? Infinity : bounds[i]!);
    if (e !== undefined) exemplar(w, 3, e);
    w.end(b);
  }
  const n = s.native;
  if (n !== undefined) {
    w.byte(tag(5, VARINT));
    w.sint(n.schema);
    w.byte(tag(6, FIXED64));
    w.double(n.spec.zeroThreshold);
    w.byte(tag(7, VARINT));
    w.varint(n.zeroCount);
    nativeBuckets(w, n.negative, n.negOffset, 9, 10);
    nativeBuckets(w, n.positive, n.posOffset, 12, 13);
    // With a zero threshold of 0 and nothing observed, a no-op span tells a histogram with native buckets from a
    // classic one (Prometheus 2.42 does not look at spans yet and reads such a histogram as classic until it has data).
    if (n.spec.zeroThreshold === 0 && n.zeroCount === 0 && n.populated === 0) {
      w.byte(tag(12, LEN));
      w.byte(4);
      w.byte(tag(1, VARINT));
      w.byte(0);
      w.byte(tag(2, VARINT));
      w.byte(0);
    }
  }
  timestamp(w, 15, s.created);
  w.end(at);
}

/** metric writes one series as a Metric message (without its tag and length) into the scratch buffer; `names` are its family's encoded label names. */
function metric(w: Scratch, f: MetricFamily, names: readonly Buffer[], s: Series): void {
  const values = s.labelValues;
  for (let i = 0; i < names.length; i++) {
    w.byte(tag(1, LEN));
    const at = w.begin();
    w.bytes(names[i]!);
    w.byte(tag(2, LEN));
    w.string(values[i]!);
    w.end(at);
  }
  switch (s.kind) {
    case 'gauge': {
      w.byte(tag(2, LEN));
      const at = w.begin();
      w.byte(tag(1, FIXED64));
      w.double(s.value);
      w.end(at);
      return;
    }
    case 'counter': {
      w.byte(tag(3, LEN));
      const at = w.begin();
      w.byte(tag(1, FIXED64));
      w.double(s.value);
      if (s.exemplar !== undefined) exemplar(w, 2, s.exemplar);
      timestamp(w, 3, s.created);
      w.end(at);
      return;
    }
    case 'histogram':
      histogram(w, f, s);
  }
}

/** Scratch for a family's header and trailer. */
const head = new Scratch();

/**
 * Family framing: the delimited length and name/help/type go into a gap of the output once the metrics are written
 * (the length is known only then); `unit` (field 5) follows the metrics.
 */
function familyStart(w: ByteWriter, name: string, help: string, type: number): { gap: number; header: Buffer; start: number } {
  head.pos = 0;
  head.byte(tag(1, LEN));
  head.string(name);
  head.byte(tag(2, LEN));
  head.string(help);
  head.byte(tag(3, VARINT));
  head.varint(type);
  return { gap: w.gap(), header: Buffer.from(head.buf.subarray(0, head.pos)), start: w.length };
}

function familyEnd(w: ByteWriter, f: { gap: number; header: Buffer; start: number }, unit: string | undefined): void {
  if (unit !== undefined) {
    scratch.pos = 0;
    scratch.byte(tag(5, LEN));
    scratch.string(unit);
    w.bytes(scratch.buf.subarray(0, scratch.pos));
  }
  const len = f.header.length + (w.length - f.start);
  head.pos = 0;
  head.varint(len);
  w.fill(f.gap, Buffer.concat([head.buf.subarray(0, head.pos), f.header]));
}

/** writeMetric frames the scratch buffer's Metric into the output as field 4 of the family. */
function writeMetric(w: ByteWriter): void {
  const len = scratch.pos;
  head.pos = 0;
  head.byte(tag(4, LEN));
  head.varint(len);
  w.bytes(head.buf.subarray(0, head.pos));
  w.bytes(scratch.buf.subarray(0, len));
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * renderFamiliesProtobuf writes every family that has a series as one delimited MetricFamily, giving the event loop
 * back every few milliseconds as the text renderer does. A family's unit is written when its name ends in it, as the
 * OpenMetrics renderer declares it.
 */
export async function renderFamiliesProtobuf(w: ByteWriter, families: Iterable<MetricFamily>, sliceMs = SLICE_MS): Promise<void> {
  let t0 = performance.now();
  let n = 0;
  for (const f of families) {
    if (f.series.size === 0 && f.overflowSeries === undefined) continue;
    const def = f.def;
    const frame = familyStart(w, def.name, def.help, TYPE[def.type]);
    const names = labelNames(f);
    for (const s of f.series.values()) {
      scratch.pos = 0;
      metric(scratch, f, names, s);
      writeMetric(w);
      if ((++n & 15) === 0 && performance.now() - t0 > sliceMs) {
        await yieldToLoop();
        t0 = performance.now();
      }
    }
    if (f.overflowSeries !== undefined) {
      scratch.pos = 0;
      metric(scratch, f, names, f.overflowSeries);
      writeMetric(w);
    }
    const unit = def.unit !== undefined && omFamilyName(def.name, def.type).endsWith('_' + def.unit) ? def.unit : undefined;
    familyEnd(w, frame, unit);
  }
}

type PromValue = MetricValue<string> & { metricName?: string };

/** renderRegistryProtobuf writes prom-client metrics (`registry.getMetricsAsJSON()`) as MetricFamily messages. */
export function renderRegistryProtobuf(w: ByteWriter, metrics: readonly MetricObjectWithValues<MetricValue<string>>[]): void {
  for (const m of metrics) {
    // Prometheus skips a family without metrics, and client_golang never writes one.
    if (m.values.length === 0) continue;
    const type = String(m.type) as keyof typeof TYPE;
    const t = TYPE[type] ?? TYPE.untyped;
    const frame = familyStart(w, m.name, m.help, t);
    if (type === 'histogram' || type === 'summary') {
      for (const g of groupSamples(m.name, m.values as PromValue[], type === 'histogram' ? 'le' : 'quantile')) {
        scratch.pos = 0;
        promLabels(g.labels);
        scratch.byte(tag(type === 'histogram' ? 7 : 4, LEN));
        const at = scratch.begin();
        scratch.byte(tag(1, VARINT));
        scratch.varint(g.count);
        scratch.byte(tag(2, FIXED64));
        scratch.double(g.sum);
        for (const [bound, v] of g.points) {
          // Bucket {cumulative_count = 1, upper_bound = 2}; Quantile {quantile = 1, value = 2}.
          if (type === 'histogram' && bound === Infinity) continue;
          scratch.byte(tag(3, LEN));
          const b = scratch.begin();
          if (type === 'histogram') {
            scratch.byte(tag(1, VARINT));
            scratch.varint(v);
            scratch.byte(tag(2, FIXED64));
            scratch.double(bound);
          } else {
            scratch.byte(tag(1, FIXED64));
            scratch.double(bound);
            scratch.byte(tag(2, FIXED64));
            scratch.double(v);
          }
          scratch.end(b);
        }
        scratch.end(at);
        writeMetric(w);
      }
    } else {
      for (const v of m.values) {
        scratch.pos = 0;
        promLabels(v.labels as Record<string, string | number | undefined>);
        // Metric.gauge = 2, counter = 3, untyped = 5; each {value = 1}.
        scratch.byte(tag(t === TYPE.counter ? 3 : t === TYPE.gauge ? 2 : 5, LEN));
        const at = scratch.begin();
        scratch.byte(tag(1, FIXED64));
        scratch.double(v.value);
        scratch.end(at);
        writeMetric(w);
      }
    }
    familyEnd(w, frame, undefined);
  }
}

function promLabels(labels: Record<string, string | number | undefined>): void {
  for (const k in labels) {
    const v = labels[k];
    if (v !== undefined) labelPair(scratch, 1, k, String(v));
  }
}

interface SampleGroup {
  labels: Record<string, string | number | undefined>;
  count: number;
  sum: number;
  /** [le or quantile, value], in order. */
  points: [number, number][];
}

/** groupSamples gathers a prom-client histogram's or summary's samples by label set (without `le` or `quantile`). */
function groupSamples(name: string, values: readonly PromValue[], structural: 'le' | 'quantile'): SampleGroup[] {
  const groups = new Map<string, SampleGroup>();
  for (const v of values) {
    const labels = { ...(v.labels as Record<string, string | number | undefined>) };
    const point = labels[structural];
    delete labels[structural];
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { labels, count: 0, sum: 0, points: [] }));
    const sample = v.metricName ?? name;
    if (sample === `${name}_sum`) g.sum = v.value;
    else if (sample === `${name}_count`) g.count = v.value;
    else if (point !== undefined) g.points.push([point === '+Inf' ? Infinity : Number(point), v.value]);
  }
  return [...groups.values()];
}
