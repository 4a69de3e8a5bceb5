/** familiesAtStart (what check --catalog expects a pipemeter target to expose) is what a fresh meter with handles exposes. */
import { describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { familiesAtStart } from '../../src/meter/start.js';

describe('familiesAtStart', () => {
  it('names exactly the families a meter exposes at 0 once it has a scraper and a pipeline handle', () => {
    const m = createMeter({ defaultMetrics: false, logger: () => {} });
    m.scraper('s');
    m.pipeline('p');
    const exposed = [...m.allFamilies()].filter((f) => f.series.size > 0).map((f) => f.name);
    expect(familiesAtStart.map((f) => f.name).sort()).toEqual(exposed.sort());
  });
});
