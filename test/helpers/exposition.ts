/** Collects every text exposition a test file renders and lints them all with `promtool check metrics` at the end. */
import { afterAll, expect } from 'vitest';
import type { Meter } from '../../src/index.js';
import { promtoolCheckMetrics, which } from './tools.js';

/** lintedExpositions returns a text() that renders a meter and queues the text for promtool. */
export function lintedExpositions(): { text(meter: Meter): Promise<string> } {
  const texts: string[] = [];
  afterAll(() => {
    if (which('promtool') === undefined) {
      if (process.env.CI === 'true') throw new Error('promtool is missing; under CI=true every exposition must be linted');
      console.warn(`skipping promtool lint of ${texts.length} expositions: promtool is not on PATH`);
      return;
    }
    for (const t of texts) {
      // Exit 0 and no finding at all: prom-client's default collectors included (a meter drops their three gauges named like counters).
      expect(promtoolCheckMetrics(t), `promtool check metrics findings for:\n${t.slice(0, 2000)}`).toEqual({ code: 0, findings: '' });
    }
    // One promtool process per exposition: a file of 200 of them takes over a minute on a busy 2-core machine.
  }, 240_000);
  return {
    async text(meter) {
      const t = await meter.metrics();
      texts.push(t);
      return t;
    },
  };
}
