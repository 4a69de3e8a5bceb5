/** The declaration rules one pure function holds, and the name collisions FamilyNames refuses: the meter and the config share both. */
import { describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { type FamilyDeclaration, FamilyNames, familyProblem } from '../../src/meter/validate.js';

describe('familyProblem', () => {
  it.each<[string, FamilyDeclaration, string | undefined]>([
    ['a valid counter', { type: 'counter', name: 'cache_hits_total', help: 'Hits.', labels: ['cache'] }, undefined],
    ['a counter without _total', { type: 'counter', name: 'cache_hits', help: 'Hits.' }, 'E_FAMILY_NAME'],
    ['a gauge with _total', { type: 'gauge', name: 'depth_total', help: 'Depth.' }, 'E_FAMILY_NAME'],
    ['a name with a dash', { type: 'gauge', name: 'queue-depth', help: 'Depth.' }, 'E_FAMILY_NAME'],
    ['a name reserved for Prometheus', { type: 'gauge', name: '__proto__', help: 'X.' }, 'E_FAMILY_NAME'],
    ['no help', { type: 'gauge', name: 'depth', help: ' ' }, 'E_FAMILY_HELP'],
    ['an id label', { type: 'gauge', name: 'depth', help: 'D.', labels: ['crawl_id'] }, 'E_FAMILY_LABEL'],
    ['a label twice', { type: 'gauge', name: 'depth', help: 'D.', labels: ['queue', 'queue'] }, 'E_FAMILY_LABEL'],
    ['le on a histogram', { type: 'histogram', name: 'lat_seconds', help: 'L.', labels: ['le'], buckets: [1] }, 'E_FAMILY_LABEL'],
    ['unordered buckets', { type: 'histogram', name: 'lat_seconds', help: 'L.', buckets: [1, 0.5] }, 'E_FAMILY_BUCKETS'],
    ['an infinite bucket', { type: 'histogram', name: 'lat_seconds', help: 'L.', buckets: [1, Infinity] }, 'E_FAMILY_BUCKETS'],
  ])('%s: %s', (_what, d, code) => expect(familyProblem(d)?.code).toBe(code));
});

describe('FamilyNames: families whose exposition names meet are refused', () => {
  const exposed = () =>
    new FamilyNames([
      ...catalog.map((f) => ({ name: f.name, type: f.type, owner: 'the catalog' })),
      { name: 'nodejs_gc_duration_seconds', type: 'histogram', owner: 'prom-client' },
      { name: 'cx', type: 'histogram', owner: 'config' },
      { name: 'foo', type: 'gauge', owner: 'config' },
    ]);
  it.each([
    ['a gauge named like a catalog histogram\'s count', 'scraper_run_duration_seconds_count', 'gauge', 'E_FAMILY_COLLISION'],
    ['a gauge named like a histogram\'s count', 'cx_count', 'gauge', 'E_FAMILY_COLLISION'],
    ['a gauge named like a catalog counter without _total', 'scraper_items_created', 'gauge', 'E_FAMILY_COLLISION'],
    ['a counter whose OpenMetrics family is a gauge\'s name', 'foo_total', 'counter', 'E_FAMILY_COLLISION'],
    ['a gauge named like a built-in histogram\'s buckets', 'nodejs_gc_duration_seconds_bucket', 'gauge', 'E_FAMILY_COLLISION'],
    ['a histogram with an existing gauge\'s name', 'foo', 'histogram', 'E_FAMILY_DUPLICATE'],
    ['a family the catalog has', 'pipeline_items_total', 'counter', 'E_FAMILY_DUPLICATE'],
    ['a gauge named like a counter\'s _created', 'pipeline_items_created', 'gauge', 'E_FAMILY_COLLISION'],
    ['a distinct name', 'cache_hits_total', 'counter', undefined],
    ['a name that only shares a prefix', 'cx_counter', 'gauge', undefined],
  ])('%s (%s)', (_what, name, type, code) => expect(exposed().collision({ name, type })?.code).toBe(code));

  it('and the other way round: a histogram beside a gauge already named like its count', () => {
    const names = new FamilyNames([{ name: 'cy_count', type: 'gauge', owner: 'config' }]);
    expect(names.collision({ name: 'cy', type: 'histogram' })?.message).toBe(
      'metric family "cy" (histogram) collides with gauge "cy_count" of config: its "_count" samples are the other\'s name, so the exposition would hold the same sample names or OpenMetrics family twice and Prometheus would keep only one; choose another name',
    );
  });

  it('the catalog has no collision of its own', () => {
    const names = new FamilyNames();
    for (const f of catalog) {
      expect(names.collision(f), f.name).toBeUndefined();
      names.add({ name: f.name, type: f.type, owner: 'the catalog' });
    }
  });
});
