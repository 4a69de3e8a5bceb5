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

  it('spans chunks without losing a byte', () => {
    const w = new ByteWriter();
    const line = 'abcdefghij'.repeat(10) + '\n';
    for (let i = 0; i < 10_000; i++) w.text(line);
    expect(w.chunks().length).toBeGreaterThan(3);
    expect(w.result().toString()).toBe(line.repeat(10_000));
  });
});

describe('ChunkPool', () => {
  it('hands back given chunks, keeps at most its cap, and refuses chunks it did not make', () => {
    const pool = new ChunkPool(2 * 256 * 1024);
    const a = pool.take();
    const b = pool.take();
    const c = pool.take();
    pool.give([a.subarray(0, 10), b, c, Buffer.alloc(100)]);
    const again = [pool.take(), pool.take(), pool.take()];
    // Two came back (the cap); the third is new; the small foreign buffer was never taken in.
    expect(again.filter((x) => x.buffer === a.buffer || x.buffer === b.buffer || x.buffer === c.buffer)).toHaveLength(2);
    expect(again.every((x) => x.length === 256 * 1024)).toBe(true);
  });
});
