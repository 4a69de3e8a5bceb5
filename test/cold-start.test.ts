/**
 * The cold-start target of the library: a fresh process that imports pipemeter, makes a meter, a counter and one
 * scrape stays within 1.5x of prom-client doing the same, in time and heap, measured in the same run (bench/cold-start.ts;
 * `npm run bench:cold-start` writes the full figure to bench/results/cold-start.md).
 */
import { describe, expect, it } from 'vitest';
import { TARGET_RATIO, coldStarts, ratios } from '../bench/cold-start.js';
import { builtCli } from './helpers/tools.js';

describe('cold start against prom-client, same run', () => {
  it(`time and heap within ${TARGET_RATIO}x of prom-client's (medians of 5 alternating fresh processes)`, () => {
    builtCli();
    const r = coldStarts(5);
    const { time, heap } = ratios(r);
    console.log(`cold start: time ${time.toFixed(2)}x, heap ${heap.toFixed(2)}x of prom-client's`);
    expect(heap).toBeLessThanOrEqual(TARGET_RATIO);
    expect(time).toBeLessThanOrEqual(TARGET_RATIO);
  }, 120_000);
});
