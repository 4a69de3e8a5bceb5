import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configFromDefaults, defaults, loadConfig, resolvePaths } from '../../src/sidecar/config.js';
import { DEFAULT_CONFIG_YAML } from '../../src/sidecar/default-config.js';
import { problemsOf } from './fixtures.js';


describe('loadConfig: valid files', () => {
  it('the embedded default is config/pipemeter.yaml, byte for byte', () => {
    expect(DEFAULT_CONFIG_YAML).toBe(readFileSync('config/pipemeter.yaml', 'utf8'));
  });

  it('the default file gives the documented defaults', () => {
    const c = loadConfig(DEFAULT_CONFIG_YAML, 'pipemeter.yaml');
    expect(c.listeners.metrics).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(c.listeners.ingest).toEqual({ host: '127.0.0.1', port: 9465 });
    expect(c.limits).toEqual({
      bodyBytes: 1048576,
      maxSeries: 10000,
      jobs: 100000,
      jobTtlMs: 86_400_000,
      seriesTtlMs: undefined,
      dedupKeys: 100000,
      sweepIntervalMs: 10_000,
      rate: { perSecond: 1000, burst: 2000, maxClients: 10_000 },
      maxScrapers: 500,
      maxPipelines: 100,
      bodyTimeoutMs: 30_000,
      inFlightBytes: 64 * 1024 * 1024,
      inFlightBytesPerAddress: 16 * 1024 * 1024,
      connections: { metrics: 256, metricsPerAddress: 64, ingest: 1024, ingestPerAddress: 512, idleTimeoutMs: 30_000, headersTimeoutMs: 10_000 },
    });
    expect(c.state).toEqual({ snapshotIntervalMs: 30_000 });
  });

  it('an empty file is the defaults', () => {
    expect(loadConfig('', 'empty.yaml')).toEqual(configFromDefaults('empty.yaml'));
  });

  it.each(readdirSync('config/examples'))('example %s loads', (f) => {
    const c = loadConfig(readFileSync(`config/examples/${f}`, 'utf8'), f);
    expect(c.source).toBe(f);
  });

  it('reads every section into typed settings', () => {
    const c = loadConfig(
      `listeners:
  ingest: { port: 19465, token_file: tok }
scrapers:
  beatport: { item_types: [track], sources: [www.beatport.com] }
  bare:
pipelines:
  crawl:
    stages: [chunking, embedding]
    firecrawl: { secret_file: /s/fc }
  open:
    firecrawl: true
families:
  - { name: h_seconds, type: histogram, help: H., labels: [kind], buckets: [0.5, 1] }
probes:
  - { name: qdrant, url: "http://q:6333/healthz", interval: 1m, timeout: 1500ms }
limits: { body_size: 512KiB, series_ttl: 1h30m, jobs: 5 }
state: { file: st.json, snapshot_interval: 5s }
`,
      'x.yaml',
    );
    expect(c.listeners.ingest).toEqual({ host: '127.0.0.1', port: 19465, tokenFile: 'tok' });
    expect(c.scrapers).toEqual([
      { name: 'beatport', itemTypes: ['track'], sources: ['www.beatport.com'] },
      { name: 'bare', itemTypes: [], sources: [] },
    ]);
    expect(c.pipelines).toEqual([
      { name: 'crawl', stages: ['chunking', 'embedding'], firecrawl: { secretFile: '/s/fc' } },
      { name: 'open', stages: [], firecrawl: {} },
    ]);
    expect(c.families).toEqual([{ name: 'h_seconds', type: 'histogram', help: 'H.', labels: ['kind'], buckets: [0.5, 1] }]);
    expect(c.probes).toEqual([{ name: 'qdrant', url: 'http://q:6333/healthz', intervalMs: 60_000, timeoutMs: 1500 }]);
    expect(c.limits.bodyBytes).toBe(512 * 1024);
    expect(c.limits.seriesTtlMs).toBe(5_400_000);
    expect(c.limits.jobs).toBe(5);
    expect(c.state).toEqual({ file: 'st.json', snapshotIntervalMs: 5000 });
    const r = resolvePaths(c, '/etc/pm');
    expect([r.listeners.ingest.tokenFile, r.pipelines[0]!.firecrawl!.secretFile, r.state.file]).toEqual(['/etc/pm/tok', '/s/fc', '/etc/pm/st.json']);
  });
});

describe('loadConfig: every problem as file:line:col: field: what, how to fix', () => {
  it.each([
    ['unknown key with a typo', 'listners: {}\n', 'f.yaml:1:1: listners: unknown key; did you mean "listeners"?'],
    ['unknown nested key', 'limits:\n  job_tll: 1h\n', 'f.yaml:2:3: limits.job_tll: unknown key; did you mean "job_ttl"?'],
    [
      'an inline token',
      'listeners:\n  ingest:\n    token: abc\n',
      'f.yaml:3:5: listeners.ingest.token: unknown key; secrets are read from files only; put the token in a file (mode 0600) and set token_file',
    ],
    [
      'an inline webhook secret',
      'pipelines:\n  crawl:\n    firecrawl: { secret: abc }\n',
      'f.yaml:3:18: pipelines.crawl.firecrawl.secret: unknown key; secrets are read from files only; put the secret in a file (mode 0600) and set secret_file',
    ],
    ['a port out of range', 'listeners:\n  metrics: { port: 70000 }\n', 'f.yaml:2:20: listeners.metrics.port: expected a whole number from 0 to 65535, got 70000'],
    ['the same port twice', 'listeners:\n  metrics: { port: 9000 }\n  ingest: { port: 9000 }\n', 'f.yaml:1:1: listeners: metrics and ingest both use port 9000; give them different ports'],
    ['a bad duration', 'limits:\n  job_ttl: 24 hours\n', 'f.yaml:2:12: limits.job_ttl: expected a duration of at least 1000ms such as "500ms", "30s", "5m", "1h30m" or "7d" (units y, w, d, h, m, s, ms, largest first), got "24 hours"'],
    ['a bad size', 'limits: { body_size: lots }\n', 'f.yaml:1:22: limits.body_size: expected a size such as "1MiB", "512KiB" or a number of bytes, got "lots"'],
    ['a key without a value', 'state:\n  file:\n', 'f.yaml:2:3: state.file: has no value; give one or remove the key'],
    ['a scraper name with a space', 'scrapers:\n  "beat port": {}\n', 'f.yaml:2:3: scrapers.<name>: "beat port" is not a valid name; use up to 64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit'],
    ['item_types not a list', 'scrapers:\n  beatport: { item_types: track }\n', 'f.yaml:2:27: scrapers.beatport.item_types: expected a list such as [a, b], got "track"'],
    ['a section of the wrong shape', 'pipelines: [crawl]\n', 'f.yaml:1:12: pipelines: expected a mapping of names to settings, got a list'],
    [
      'an id-like label, refused by the meter\'s own check',
      'families:\n  - { name: pages_total, type: counter, help: Pages., labels: [crawl_id] }\n',
      'f.yaml:2:5: families[0]: pages_total: label "crawl_id" looks like an id, URL or timestamp and would make the series count unbounded; attach ids as exemplars and reduce URLs to their host',
    ],
    ['a counter without _total', 'families:\n  - { name: pages, type: counter, help: Pages. }\n', 'f.yaml:2:5: families[0]: counter "pages": counter names end in "_total"; name it "pages_total"'],
    ['a family of an unknown type', 'families:\n  - { name: x, type: summary, help: X. }\n', 'f.yaml:2:22: families[0].type: "summary" is not a family type; use counter, gauge or histogram'],
    ['a family without help', 'families:\n  - { name: x_total, type: counter }\n', 'f.yaml:2:5: families[0].help: is required'],
    ['a histogram without buckets', 'families:\n  - { name: x_seconds, type: histogram, help: X. }\n', 'f.yaml:2:5: families[0].buckets: a histogram needs buckets, e.g. [0.1, 0.5, 1, 5]'],
    ['buckets out of order', 'families:\n  - { name: x_seconds, type: histogram, help: X., buckets: [1, 0.5] }\n', 'f.yaml:2:5: families[0]: histogram "x_seconds": buckets must be finite upper bounds in increasing order, e.g. [0.1, 0.5, 1, 5]'],
    ['buckets on a gauge', 'families:\n  - { name: x, type: gauge, help: X., buckets: [1] }\n', 'f.yaml:2:5: families[0].buckets: only histograms have buckets; remove them or make x a histogram'],
    ['a family name the catalog owns', 'families:\n  - { name: pipeline_items_total, type: counter, help: X. }\n', 'f.yaml:2:5: families[0]: metric family "pipeline_items_total" is already registered by the pipemeter catalog (docs/metrics.md); use that one, or choose another name'],
    ['a family declared twice', 'families:\n  - { name: a_total, type: counter, help: A. }\n  - { name: a_total, type: counter, help: A. }\n', 'f.yaml:3:5: families[1].name: family "a_total" is declared twice; keep one'],
    ['a probe URL that is not http', 'probes:\n  - { name: q, url: "ftp://q/health" }\n', 'f.yaml:2:21: probes[0].url: "ftp://q/health" is not an http(s) URL; write it in full, e.g. http://scraper:8000/health'],
    ['a probe timeout not under its interval', 'probes:\n  - { name: q, url: "http://q/h", interval: 5s, timeout: 5s }\n', 'f.yaml:2:5: probes[0].timeout: must be shorter than the interval (5s), or probes overlap'],
    ['a probe without url', 'probes:\n  - name: q\n', 'f.yaml:2:5: probes[0].url: is required'],
    ['two probes with one name', 'probes:\n  - { name: q, url: "http://a/h" }\n  - { name: q, url: "http://b/h" }\n', 'f.yaml:3:5: probes[1].name: probe "q" is declared twice; names are the target label and must be unique'],
    ['YAML syntax', 'limits: { jobs: 5\n', 'f.yaml:2:1: YAML syntax: Flow map in block collection must be sufficiently indented and end with a }; fix the syntax at this position'],
  ])('%s', (_what, yaml, want) => {
    expect(problemsOf(yaml)).toContain(want);
  });

  it('collects every problem in one error, not only the first', () => {
    const lines = problemsOf('listners: {}\nlimits:\n  jobs: 0\n  job_ttl: soon\nprobes:\n  - { name: q }\n');
    expect(lines).toEqual([
      'f.yaml:1:1: listners: unknown key; did you mean "listeners"?',
      'f.yaml:3:9: limits.jobs: expected a whole number from 1 to 9007199254740991, got 0',
      'f.yaml:4:12: limits.job_ttl: expected a duration of at least 1000ms such as "500ms", "30s", "5m", "1h30m" or "7d" (units y, w, d, h, m, s, ms, largest first), got "soon"',
      'f.yaml:6:5: probes[0].url: is required',
    ]);
  });

  it('the message header counts the problems', () => {
    expect(() => loadConfig('a: 1\nb: 2\n', 'two.yaml')).toThrow(/^two\.yaml: 2 problems in the configuration:\n/);
  });
});

describe('value readers', () => {
  it('a bare number is seconds where a duration is expected', () => {
    const c = loadConfig('probes:\n  - name: api\n    url: http://api:8000/health\n    interval: 15\n    timeout: 2.5\n', 'p.yaml');
    expect(c.probes[0]).toMatchObject({ intervalMs: 15_000, timeoutMs: 2500 });
  });

  it('durations follow the shared grammar: compound, largest unit first, decimals allowed', () => {
    const c = loadConfig('limits:\n  job_ttl: 1d12h\n  sweep_interval: 1.5s\n', 'l.yaml');
    expect(c.limits.jobTtlMs).toBe(36 * 3600_000);
    expect(c.limits.sweepIntervalMs).toBe(1500);
    expect(problemsOf('limits:\n  job_ttl: 30m1h\n')[0]).toMatch(/^f\.yaml:2:12: limits\.job_ttl: expected a duration of at least 1000ms such as "500ms", "30s", "5m", "1h30m" or "7d" \(units y, w, d, h, m, s, ms, largest first\), got "30m1h"$/);
  });

  it('defaults hold the documented numbers', () => {
    expect(defaults.limits.bodyBytes).toBe(1024 * 1024);
    expect(defaults.limits.jobs).toBe(100_000);
    expect(defaults.limits.jobTtlMs).toBe(24 * 3600 * 1000);
  });
});

describe('loadConfig: native histograms of declared families', () => {
  it('reads native: true and native: {schema, max_buckets, zero_threshold}', () => {
    const c = loadConfig(
      `families:
  - { name: a_seconds, type: histogram, help: A., buckets: [1], native: true }
  - { name: b_seconds, type: histogram, help: B., buckets: [1], native: { schema: 2, max_buckets: 80, zero_threshold: 0.000001 } }
  - { name: c_seconds, type: histogram, help: C., buckets: [1] }
`,
      'n.yaml',
    );
    expect(c.families.map((f) => f.native)).toEqual([true, { schema: 2, maxBuckets: 80, zeroThreshold: 0.000001 }, undefined]);
  });

  it.each([
    ['native on a counter', '{ name: x_total, type: counter, help: X., native: true }', 'f.yaml:2:5: families[0]: counter "x_total": only histograms have native buckets; remove native or make it a histogram'],
    ['a schema out of range', '{ name: x_seconds, type: histogram, help: X., buckets: [1], native: { schema: 9 } }', 'f.yaml:2:5: families[0]: histogram "x_seconds": native.schema must be an integer from -4 to 8 (each power of two split into 2^schema buckets; 3 is a factor of 1.09 per bucket)'],
    ['too many buckets', '{ name: x_seconds, type: histogram, help: X., buckets: [1], native: { max_buckets: 5000 } }', 'f.yaml:2:5: families[0]: histogram "x_seconds": native.max_buckets must be an integer from 1 to 1000; 160 is the default'],
    ['an unknown native key', '{ name: x_seconds, type: histogram, help: X., buckets: [1], native: { factor: 1.1 } }', 'f.yaml:2:75: families[0].native.factor: unknown key; known keys: schema, max_buckets, zero_threshold'],
    ['native not a boolean or mapping', '{ name: x_seconds, type: histogram, help: X., buckets: [1], native: yes }', 'f.yaml:2:73: families[0].native: expected true, false or a mapping of schema, max_buckets, zero_threshold, got "yes"'],
  ])('%s', (_what, family, want) => {
    expect(problemsOf(`families:\n  - ${family}\n`)).toContain(want);
  });
});
