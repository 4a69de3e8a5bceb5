/** The one duration and size grammar: the sidecar config, the deploy settings, check and the CLI flags all read it. */
import { describe, expect, it } from 'vitest';
import { formatDuration, isPrometheusDuration, isSingleUnitDuration, parseDuration, parseSize } from '../../src/shared/units.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['2d', 172_800_000],
    ['2w', 1_209_600_000],
    ['1y', 365 * 86_400_000],
    ['1h30m', 5_400_000],
    ['90m', 5_400_000],
    ['1d12h30m15s250ms', 131_415_250],
    ['1.5s', 1500],
    ['0.25h', 900_000],
    ['0', 0],
    ['0s', 0],
    // Prometheus's order: largest unit first, each once.
    ['30s1m', undefined],
    ['1m1m', undefined],
    ['1ms1s', undefined],
    ['24 hours', undefined],
    ['-1s', undefined],
    ['1.s', undefined],
    ['.5s', undefined],
    ['5', undefined],
    ['h', undefined],
    ['', undefined],
    [15, undefined],
    [undefined, undefined],
  ])('parseDuration(%j) = %j', (v, want) => expect(parseDuration(v)).toBe(want));
});

describe('where the text goes to Prometheus or into a rule name', () => {
  it.each([
    ['1h30m', true, false],
    ['90m', true, true],
    ['7d', true, true],
    ['0s', true, true],
    ['1.5h', false, false],
    ['30s1m', false, false],
  ])('%s: Prometheus reads it %s, a rule name holds it %s', (v, prometheus, single) => {
    expect(isPrometheusDuration(v)).toBe(prometheus);
    expect(isSingleUnitDuration(v)).toBe(single);
  });
});

describe('formatDuration', () => {
  it.each([
    [250, '250ms'],
    [45_000, '45s'],
    [5_400_000, '1h30m'],
    [11_520_000, '3h12m'],
    [90_061_000, '1d1h'],
  ])('%d ms is %s', (ms, want) => expect(formatDuration(ms)).toBe(want));
});

describe('parseSize', () => {
  it.each([
    ['1MiB', 1_048_576],
    ['512KiB', 524_288],
    ['1MB', 1_000_000],
    ['1000', 1000],
    [4096, 4096],
    ['0', undefined],
    [0, undefined],
    [1.5, undefined],
    ['1 furlong', undefined],
  ])('parseSize(%j) = %j', (v, want) => expect(parseSize(v)).toBe(want));
});
