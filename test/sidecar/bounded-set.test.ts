import { describe, expect, it } from 'vitest';
import { BoundedSet } from '../../src/sidecar/bounded-set.js';

describe('BoundedSet', () => {
  it('keeps the newest keys up to its capacity, oldest first', () => {
    const s = new BoundedSet(3);
    for (const k of ['a', 'b', 'c', 'd']) expect(s.add(k)).toBe(true);
    expect(s.values()).toEqual(['b', 'c', 'd']);
    expect([s.has('a'), s.has('b'), s.has('d')]).toEqual([false, true, true]);
    expect(s.size).toBe(3);
  });

  it('adding a key it holds changes nothing', () => {
    const s = new BoundedSet(2);
    s.add('a');
    s.add('b');
    expect(s.add('a')).toBe(false);
    s.add('c');
    expect(s.values()).toEqual(['b', 'c']);
  });

  // No clock here (speed is the benchmarks' business): a quadratic eviction would make this run hit the test timeout.
  it('evicts in order through 1 000 000 adds into a 100 000-key set', () => {
    const s = new BoundedSet(100_000);
    for (let i = 0; i < 1_000_000; i++) s.add(`k${i}`);
    expect(s.size).toBe(100_000);
    expect(s.values()[0]).toBe('k900000');
  });
});
