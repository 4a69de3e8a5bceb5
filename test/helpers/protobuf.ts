/**
 * Decodes pipemeter's protobuf exposition with protobufjs against the official metrics.proto (prometheus/client_model,
 * vendored in test/fixtures/protobuf with its licence header), and checks every message byte for byte: protobufjs
 * encoding the decoded message again must give exactly the bytes pipemeter wrote.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { expect } from 'vitest';

const root = protobuf.loadSync(fileURLToPath(new URL('../fixtures/protobuf/metrics.proto', import.meta.url)));
export const MetricFamilyType = root.lookupType('io.prometheus.client.MetricFamily');

/** The decoded messages as plain objects: 64-bit integers as numbers, enums as names, unset fields left out. */
export interface DecodedFamily {
  name: string;
  help?: string;
  type: string;
  unit?: string;
  metric: DecodedMetric[];
}
export interface DecodedExemplar {
  label?: { name: string; value: string }[];
  value: number;
  timestamp?: { seconds?: number; nanos?: number };
}
export interface DecodedMetric {
  label?: { name: string; value: string }[];
  gauge?: { value: number };
  counter?: { value: number; exemplar?: DecodedExemplar; createdTimestamp?: { seconds?: number; nanos?: number } };
  untyped?: { value: number };
  summary?: { sampleCount: number; sampleSum: number; quantile?: { quantile: number; value: number }[] };
  histogram?: {
    sampleCount: number;
    sampleSum: number;
    bucket?: { cumulativeCount: number; upperBound: number; exemplar?: DecodedExemplar }[];
    schema?: number;
    zeroThreshold?: number;
    zeroCount?: number;
    negativeSpan?: { offset: number; length: number }[];
    negativeDelta?: number[];
    positiveSpan?: { offset: number; length: number }[];
    positiveDelta?: number[];
    createdTimestamp?: { seconds?: number; nanos?: number };
  };
}

/**
 * decodeDelimited reads every length-delimited MetricFamily of a body and asserts that protobufjs re-encodes each to
 * the same bytes.
 */
export function decodeDelimited(body: Uint8Array): DecodedFamily[] {
  const reader = protobuf.Reader.create(body);
  const out: DecodedFamily[] = [];
  while (reader.pos < reader.len) {
    const len = reader.uint32();
    const start = reader.pos;
    const bytes = body.subarray(start, start + len);
    reader.skip(len);
    const msg = MetricFamilyType.decode(bytes);
    expect(Buffer.from(MetricFamilyType.encode(msg).finish()).equals(Buffer.from(bytes)), `MetricFamily ${(msg as unknown as { name: string }).name} re-encodes to other bytes`).toBe(true);
    out.push(MetricFamilyType.toObject(msg, { longs: Number, enums: String }) as DecodedFamily);
  }
  return out;
}

/** buckets reads a native histogram's spans and deltas back into key -> count (empty buckets left out). */
export function nativeCounts(spans: { offset: number; length: number }[] = [], deltas: number[] = []): Map<number, number> {
  const out = new Map<number, number>();
  let key = 0;
  let d = 0;
  let c = 0;
  for (const s of spans) {
    key += s.offset;
    for (let i = 0; i < s.length; i++, key++) {
      c += deltas[d++]!;
      if (c !== 0) out.set(key, c);
    }
  }
  return out;
}

/** labelsOf turns a decoded label list into an object. */
export function labelsOf(label: { name: string; value: string }[] = []): Record<string, string> {
  return Object.fromEntries(label.map((l) => [l.name, l.value]));
}
