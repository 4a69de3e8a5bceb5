import { describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { escapeLabelValue } from '../../src/exposition/writer.js';
import { lintedExpositions } from '../helpers/exposition.js';

const expo = lintedExpositions();
const BOUNDS = [0.1, 1, 10];

/** The exposition lines of one histogram series observed once with v, built by hand. */
function expectedLines(name: string, labels: Record<string, string>, v: number): string {
  const pairs = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabelValue(x)}"`).join(',');
  const les = [...BOUNDS.map(String), '+Inf'];
  const bounds = [...BOUNDS, Infinity];
  let out = '';
  les.forEach((le, i) => (out += `${name}_bucket{${pairs ? pairs + ',' : ''}le="${le}"} ${v <= bounds[i]! ? 1 : 0}\n`));
  const braced = pairs ? `{${pairs}}` : '';
  return out + `${name}_sum${braced} ${v}\n${name}_count${braced} 1\n`;
}

describe('histogram rendering across chunk boundaries', () => {
  // Each series writes its bucket line head once and copies it for its other lines; heads of many lengths,
  // some longer than a chunk, make chunk boundaries fall inside heads, inside copies and between lines.
  it.each(['text', 'openmetrics'] as const)('writes every line of every series whole (%s)', async (format) => {
    const m = createMeter({ defaultMetrics: false, maxSeries: 10_000 });
    const h = m.histogram({ name: 'wide_seconds', help: 'Wide.', labels: ['site', 'note'], buckets: BOUNDS });
    const plain = m.histogram({ name: 'plain_seconds', help: 'Plain.', buckets: BOUNDS });
    plain.observe({}, 0.5);
    let want = '';
    for (let i = 0; i < 1500; i++) {
      // Lengths cycle through 1..~9k characters, with escapes and non-ASCII; two values are longer than a chunk.
      const long = i === 700 || i === 701 ? 300_000 : ((i * 7919) % 9000) + 1;
      const labels = { site: `site-${i}`, note: ('ab"c\\dé\n'.repeat(Math.ceil(long / 8))).slice(0, long) };
      const v = (i % 40) / 2;
      h.observe(labels, v);
      want += expectedLines('wide_seconds', labels, v);
    }
    const text = format === 'text' ? await expo.text(m) : await m.render(format);
    const lines = (prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix)).join('\n') + '\n';
    expect(Buffer.byteLength(text)).toBeGreaterThan(20 * 256 * 1024);
    expect(lines('wide_seconds_')).toBe(want);
    expect(lines('plain_seconds_')).toBe(expectedLines('plain_seconds', {}, 0.5));
    // A second render writes into the first one's chunks and must read the same.
    expect(await m.render(format)).toBe(text);
  });
});
