/** docs/runbooks.md has a section for every alert; docs/metrics.md a row for every catalog family. */
import { describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { createMeter } from '../../src/index.js';
import { readCommitted, readYaml } from './helpers.js';

const alertNames: string[] = readYaml('deploy/prometheus/rules/alerts.yml').groups.flatMap((g: { rules: { alert: string }[] }) =>
  g.rules.map((r) => r.alert),
);
const runbooks = readCommitted('docs/runbooks.md');
const metrics = readCommitted('docs/metrics.md');

/** githubAnchor is the anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes. */
function githubAnchor(heading: string): string {
  return heading.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

describe('docs/runbooks.md', () => {
  const anchors = new Set([...runbooks.matchAll(/^## (.+)$/gm)].map((m) => githubAnchor(m[1] ?? '')));

  it.each(alertNames)('has the anchor of %s, with what it means, how to look and how to fix', (name) => {
    expect(anchors).toContain(name.toLowerCase());
    const section = runbooks.split(/^## /m).find((s) => s.startsWith(`${name}\n`)) ?? '';
    for (const h of ['### What it means', '### How to look', '### How to fix']) expect(section).toContain(h);
  });

  it('has no section for an alert that does not exist', () => {
    const sections = [...runbooks.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(sections.filter((s) => !alertNames.includes(s ?? ''))).toEqual([]);
  });
});

describe('docs/metrics.md', () => {
  it.each(catalog.map((f) => [f.name, f]))('has a row for %s with its type and help', (name, f) => {
    const row = metrics.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    expect(row).toContain(`| ${f.type} |`);
    expect(row).toContain(f.help.replace(/\|/g, '\\|'));
  });
});

describe('docs/metrics.md on the series a scraper starts at zero', () => {
  it('explains the source="" series a scraper without declared sources starts, and how to have real sources instead', async () => {
    const bare = createMeter({ defaultMetrics: false, logger: () => {} });
    bare.scraper('beatport', { itemTypes: ['track'] });
    const line = 'scraper_items_created_total{scraper="beatport",item_type="track",source=""} 0';
    expect(await bare.metrics()).toContain(`${line}\n`);
    // The doc shows the very line /metrics has, says what it is, and how to avoid it.
    expect(metrics).toContain(`\`\`\`\n${line}\n\`\`\``);
    expect(metrics).toMatch(/This is not a bug/);
    expect(metrics).toMatch(/Prometheus stores an empty label value as no label/);
    const declared = createMeter({ defaultMetrics: false, logger: () => {} });
    declared.scraper('beatport', { itemTypes: ['track'], sources: ['https://www.beatport.com/'] });
    const text = await declared.metrics();
    expect(text).toContain('scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"} 0\n');
    expect(text).not.toContain('source=""');
    expect(metrics).toContain("sources: ['https://www.beatport.com']");
  });

  it('says a custom histogram needs its buckets and names the catalog layouts', () => {
    expect(metrics).toMatch(/A histogram needs its `buckets`: there is no default layout/);
    for (const layout of ['stageSeconds', 'jobSeconds', 'queueWaitSeconds', 'realtimeFactor']) expect(metrics).toContain(`catalog.${layout}`);
  });
});

