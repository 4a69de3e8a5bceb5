/** Collects every text exposition a test file renders and lints them all with `promtool check metrics` at the end. */
import { afterAll, expect } from 'vitest';
import type { Meter } from '../../src/index.js';
import { promtoolCheckMetrics, which } from './tools.js';

/**
 * prom-client's default collectors name three gauges with a `_total` suffix; promtool flags them.
 * They are prom-client's names, not ours: tolerated here and nowhere else.
 */
export const PROM_CLIENT_DEFAULT_FINDINGS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

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
      const { findings } = promtoolCheckMetrics(t);
      const ours = findings
        .split('\n')
        .filter((l) => l.trim() !== '' && !PROM_CLIENT_DEFAULT_FINDINGS.some((n) => l.startsWith(n + ' ')));
      expect(ours, `promtool check metrics findings for:\n${t.slice(0, 2000)}`).toEqual([]);
    }
  });
  return {
    async text(meter) {
      const t = await meter.metrics();
      texts.push(t);
      return t;
    },
  };
}
