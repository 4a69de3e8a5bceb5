import { describe, expect, it } from 'vitest';
import { ByteWriter, ChunkPool } from '../../src/exposition/writer.js';

describe('ByteWriter', () => {
  it.each([
    ['ascii', 'scraper_runs_total'],
    ['non-ASCII after ASCII', 'größe_ü'],
    ['a long string', 'x'.repeat(1000) + 'é'],
  ])('writes %s as UTF-8', (_what, s) => {
    const w = new ByteWriter();
    w.text(s);
    expect(w.result().toString('utf8')).toBe(s);
  });

  it.each([
    ['plain', 'beatport', 'beatport'],
    ['quote, backslash, newline', 'a"b\\c\nd', 'a\\"b\\\\c\\nd'],
    ['non-ASCII with a quote', 'zoë"', 'zoë\\"'],
  ])('escapes a %s label value', (_what, v, want) => {
    const w = new ByteWriter();
    w.labelValue(v);
    expect(w.result().toString('utf8')).toBe(want);
  });

  it.each([0, 7, 10, 99, 1234567890, 2 ** 53 - 1, 0.5, 1e21])('writes the count %d as text', (n) => {
    const w = new ByteWriter();
    w.count(n);
    expect(w.result().toString()).toBe(String(n));
  });

  it.each([
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [NaN, 'NaN'],
  ])('writes the count %d as both formats spell it, %s (JavaScript would write "Infinity")', (n, want) => {
    const w = new ByteWriter();
    w.count(n);
    expect(w.result().toString()).toBe(want);
  });

  it('spans chunks without losing a byte', () => {
    const w = new ByteWriter();
    const line = 'abcdefghij'.repeat(10) + '\n';
    for (let i = 0; i < 10_000; i++) w.text(line);
    expect(w.chunks().length).toBeGreaterThan(3);
    expect(w.result().toString()).toBe(line.repeat(10_000));
  });

  it('repeats bytes written earlier: within a chunk, from an earlier chunk, and across a chunk boundary', () => {
    const CHUNK = 256 * 1024;
    const w = new ByteWriter();
    const head = Buffer.from('head{a="x",');
    w.bytes(head);
    let at = w.repeat(0, head.length);
    expect(at).toBe(head.length);
    // Fill to 5 bytes short of the chunk's end: the next copy must start a new chunk.
    const filler = Buffer.alloc(CHUNK - 2 * head.length - 5, 'f');
    w.bytes(filler);
    at = w.repeat(at, head.length);
    expect(at).toBe(CHUNK - 5);
    expect(w.chunks()).toHaveLength(2);
    // Its source was in the first chunk (which ends where the copy starts); now a source that spans the boundary.
    w.bytes(Buffer.from('|'));
    const straddle = w.repeat(CHUNK - 10, 12);
    at = w.repeat(at, head.length);
    const want = Buffer.concat([head, head, filler, head, Buffer.from('|')]);
    const all = w.result();
    expect(all.subarray(0, want.length).equals(want)).toBe(true);
    expect(straddle).toBe(want.length);
    expect(all.subarray(straddle, straddle + 12).equals(all.subarray(CHUNK - 10, CHUNK + 2))).toBe(true);
    expect(all.subarray(at).equals(head)).toBe(true);
    expect(all.length).toBe(want.length + 12 + head.length);
  });
});

describe('ByteWriter gaps', () => {
  it('leaves a place filled later, in order, and the pool gets each chunk back once', () => {
    const pool = new ChunkPool(64 * 256 * 1024);
    const w = new ByteWriter(pool);
    w.text('a');
    const g1 = w.gap();
    w.text('b'.repeat(300_000));
    const g0 = w.gap(); // right after a chunk boundary too
    w.text('c');
    w.fill(g1, Buffer.from('[1]'));
    w.fill(g0, Buffer.from('[0]'));
    expect(w.result().toString()).toBe('a[1]' + 'b'.repeat(300_000) + '[0]c');
    expect(w.length).toBe(300_008);
    const chunks = w.chunks();
    pool.give(chunks);
    const taken = [pool.take(), pool.take(), pool.take()];
    expect(new Set(taken.map((c) => c.buffer)).size).toBe(3);
  });
});

describe('ChunkPool', () => {
  const CHUNK = 256 * 1024;
  const isOneOf = (x: Buffer, given: Buffer[]) => given.some((g) => g.buffer === x.buffer);

  it('hands back given chunks, keeps at most its cap, and refuses chunks it did not make', () => {
    const pool = new ChunkPool(2 * CHUNK);
    const given = [pool.take(), pool.take(), pool.take()];
    pool.give([given[0]!.subarray(0, 10), given[1]!, given[2]!, Buffer.alloc(100)]);
    expect(pool.bytes).toBe(2 * CHUNK);
    const again = [pool.take(), pool.take(), pool.take()];
    // Two came back (the cap); the third is new; the small foreign buffer was never taken in.
    expect(again.filter((x) => isOneOf(x, given))).toHaveLength(2);
    expect(again.every((x) => x.length === CHUNK)).toBe(true);
  });

  it('keeps as many chunks as the last scrape used: a big scrape is reused whole, a smaller one shrinks the pool', () => {
    const pool = new ChunkPool(1024 * CHUNK);
    const big = Array.from({ length: 400 }, () => pool.take());
    pool.give(big);
    expect(pool.bytes).toBe(400 * CHUNK);
    const again = Array.from({ length: 400 }, () => pool.take());
    expect(again.every((x) => isOneOf(x, big))).toBe(true);
    pool.give(again.slice(0, 3));
    expect(pool.bytes).toBe(3 * CHUNK);
    pool.give(again.slice(3, 5));
    expect(pool.bytes).toBe(2 * CHUNK);
  });
});
