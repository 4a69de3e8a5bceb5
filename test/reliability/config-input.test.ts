/** Bad input to the config loader: every case is one E_CONFIG error that names file:line:col, the field and the fix; nothing crashes or hangs. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/sidecar/host.js';
import { PipemeterError } from '../../src/shared/errors.js';
import { configFromDefaults, loadConfig } from '../../src/sidecar/config.js';
import { DEFAULT_CONFIG_YAML } from '../../src/sidecar/default-config.js';
import { problemsOf } from '../sidecar/fixtures.js';


const deepFlow = (n: number) => 'limits: ' + '['.repeat(n) + ']'.repeat(n) + '\n';
const aliasBomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`), 'limits: *j'].join('\n');

/** [what, YAML, a fragment of the one problem line (after file:line:col)]. */
const cases: [string, string, string][] = [
  ['unclosed flow mapping', 'limits: { jobs: 5\n', 'YAML syntax'],
  ['a tab for indentation', 'limits:\n\tjobs: 5\n', 'YAML syntax'],
  ['a duplicate key', 'limits: {}\nlimits: {}\n', 'YAML syntax'],
  ['a NUL byte', 'limits: {}\n\u0000\n', 'YAML syntax'],
  ['a list for the root', '- a\n- b\n', 'expected a mapping of'],
  ['a string for a section', 'limits: lots\n', 'limits: expected a mapping of'],
  ['a string for a port', 'listeners: { ingest: { port: "9465" } }\n', 'listeners.ingest.port: expected a whole number from 0 to 65535, got "9465"'],
  ['a port of 70000', 'listeners: { ingest: { port: 70000 } }\n', 'listeners.ingest.port: expected a whole number from 0 to 65535'],
  ['a negative port', 'listeners: { metrics: { port: -1 } }\n', 'listeners.metrics.port: expected a whole number from 0 to 65535'],
  ['a fractional port', 'listeners: { metrics: { port: 1.5 } }\n', 'listeners.metrics.port: expected a whole number'],
  ['an empty host', 'listeners: { ingest: { host: "" } }\n', 'listeners.ingest.host: expected a non-empty string'],
  ['a list for scrapers', 'scrapers: [a, b]\n', 'scrapers: expected a mapping of names to settings'],
  ['a scraper name with a space', 'scrapers: { "my scraper": {} }\n', 'is not a valid name'],
  ['a scraper name with a newline', 'scrapers: { "a\\nb": {} }\n', 'is not a valid name'],
  ['a scraper name with a quote', "scrapers: { 'a\"b': {} }\n", 'is not a valid name'],
  ['a scraper name with a NUL escape', 'scrapers: { "a\\0b": {} }\n', 'is not a valid name'],
  ['max_series .nan', 'limits: { max_series: .nan }\n', 'limits.max_series: expected a whole number from 1'],
  ['max_series .inf', 'limits: { max_series: .inf }\n', 'limits.max_series: expected a whole number from 1'],
  ['max_series 1e300', 'limits: { max_series: 1e300 }\n', 'limits.max_series: expected a whole number from 1 to 9007199254740991'],
  ['jobs 0', 'limits: { jobs: 0 }\n', 'limits.jobs: expected a whole number from 1'],
  ['jobs -5', 'limits: { jobs: -5 }\n', 'limits.jobs: expected a whole number from 1'],
  ['body_size -1', 'limits: { body_size: -1 }\n', 'limits.body_size: expected a size'],
  ['body_size .inf', 'limits: { body_size: .inf }\n', 'limits.body_size: expected a size'],
  ['body_size over 1GiB', 'limits: { body_size: 2GiB }\n', 'limits.body_size: at most 1GiB'],
  ['body_size 99999999999GiB', 'limits: { body_size: 99999999999GiB }\n', 'limits.body_size: at most 1GiB'],
  ['a negative duration', 'limits: { job_ttl: -5s }\n', 'limits.job_ttl: expected a duration of at least 1000ms'],
  ['a duration .nan', 'limits: { job_ttl: .nan }\n', 'limits.job_ttl: expected a duration'],
  ['a sweep interval past the timer limit', 'limits: { sweep_interval: 100000h }\n', 'limits.sweep_interval: expected a duration from 100ms to 24d'],
  ['a snapshot interval past the timer limit', 'state: { snapshot_interval: 30d }\n', 'state.snapshot_interval: expected a duration from 100ms to 24d'],
  ['a probe interval past the timer limit', 'probes: [{ name: a, url: "http://127.0.0.1:1/", interval: 9999h }]\n', 'probes[0].interval: expected a duration from 1000ms to 24d'],
  ['rate per_second 0', 'limits: { rate: { per_second: 0 } }\n', 'limits.rate.per_second: expected a number greater than 0'],
  ['rate per_second .nan', 'limits: { rate: { per_second: .nan } }\n', 'limits.rate.per_second: expected a number greater than 0'],
  ['rate per_second .inf', 'limits: { rate: { per_second: .inf } }\n', 'limits.rate.per_second: expected a number greater than 0'],
  ['rate burst 0', 'limits: { rate: { burst: 0 } }\n', 'limits.rate.burst: expected a whole number from 1'],
  ['rate max_clients 1e9', 'limits: { rate: { max_clients: 1000000000 } }\n', 'limits.rate.max_clients: expected a whole number from 1 to 10000000'],
  ['rate as a number', 'limits: { rate: 1000 }\n', 'limits.rate: expected a mapping of per_second, burst, max_clients'],
  ['a typo', 'limits: { max_seres: 5 }\n', 'limits.max_seres: unknown key; did you mean "max_series"?'],
  ['"__proto__" at the root', '__proto__: { limits: { jobs: 1 } }\n', '__proto__: unknown key'],
  ['"constructor" at the root', 'constructor: 1\n', 'constructor: unknown key'],
  ['"__proto__" in limits', 'limits: { __proto__: { jobs: 1 } }\n', 'limits.__proto__: unknown key'],
  ['"prototype" in limits', 'limits: { prototype: 1 }\n', 'limits.prototype: unknown key'],
  ['"toString" in a listener', 'listeners: { ingest: { toString: 1 } }\n', 'listeners.ingest.toString: unknown key'],
  ['an inline token', 'listeners: { ingest: { token: hunter2-inline } }\n', 'secrets are read from files only'],
  ['an inline webhook secret', 'pipelines: { crawl: { firecrawl: { secret: s3cr3t-inline } } }\n', 'pipelines.crawl.firecrawl.secret: unknown key'],
  ['a family with an id label', 'families: [{ name: a_total, type: counter, help: A., labels: [job_id] }]\n', 'looks like an id'],
  ['a family with a "__" label', 'families: [{ name: a_total, type: counter, help: A., labels: [__proto__] }]\n', 'is not valid'],
  ['a family named "__proto__"', 'families: [{ name: __proto__, type: gauge, help: A. }]\n', ''],
  ['a histogram with NaN buckets', 'families: [{ name: a_seconds, type: histogram, help: A., buckets: [.nan, 1] }]\n', 'buckets must be finite'],
  ['a probe URL with a CR LF', 'probes: [{ name: a, url: "http://127.0.0.1/\\r\\nX-Evil: 1" }]\n', 'is not an http(s) URL'],
  ['a probe file: URL', 'probes: [{ name: a, url: "file:///etc/passwd" }]\n', 'is not an http(s) URL'],
  ['10 000 nested lists', deepFlow(10_000), ''],
  ['an alias bomb (9^10 expansions)', aliasBomb, ''],
];

describe('loadConfig: bad input is one E_CONFIG error naming the position, the field and the fix', () => {
  it.each(cases)('%s', (_what, yaml, fragment) => {
    const t0 = performance.now();
    const lines = problemsOf(yaml);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^f\.yaml:\d+:\d+: \S/);
    if (fragment !== '') expect(lines.join('\n')).toContain(fragment);
    // The prototype of plain objects is never written by a config.
    expect(({} as Record<string, unknown>).jobs).toBeUndefined();
    expect(({} as Record<string, unknown>).limits).toBeUndefined();
  });

  it('an inline secret is never echoed in the message', () => {
    expect(problemsOf('listeners: { ingest: { token: hunter2-inline } }\n').join('\n')).not.toContain('hunter2');
    expect(problemsOf('pipelines: { crawl: { firecrawl: { secret: s3cr3t-inline } } }\n').join('\n')).not.toContain('s3cr3t');
  });

  it('"__proto__" keys change nothing: the rest of a valid file gives the defaults', () => {
    expect(() => loadConfig('limits: { __proto__: { jobs: 1 } }\n', 'f.yaml')).toThrow(PipemeterError);
    expect(loadConfig('limits: { jobs: 5 }\n', 'f.yaml').limits.jobs).toBe(5);
    expect(configFromDefaults().limits.jobs).toBe(100_000);
  });
});

describe('secure defaults', () => {
  it.each([
    ['an empty file', ''],
    ['the embedded default config', DEFAULT_CONFIG_YAML],
    ['a file that sets only the port', 'listeners: { ingest: { port: 9999 } }\n'],
  ])('%s: ingest binds to loopback, rate limited, 1 MiB bodies', (_what, yaml) => {
    const c = loadConfig(yaml, 'f.yaml');
    expect(c.listeners.ingest.host).toBe('127.0.0.1');
    expect(c.limits.rate).toEqual({ perSecond: 1000, burst: 2000, maxClients: 10_000 });
    expect(c.limits.bodyBytes).toBe(1024 * 1024);
    expect(c.limits.maxSeries).toBe(10_000);
  });
});

describe('readConfig: bytes that are not UTF-8', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-rel-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a name with invalid UTF-8 is refused as not a valid name', () => {
    const file = join(dir, 'bad-utf8.yaml');
    writeFileSync(file, Buffer.concat([Buffer.from('scrapers:\n  "be'), Buffer.from([0xff, 0xfe]), Buffer.from('atport": {}\n')]));
    expect(() => readConfig(file)).toThrow(/bad-utf8\.yaml:2:3: scrapers\.<name>: ".*" is not a valid name/);
  });
});
