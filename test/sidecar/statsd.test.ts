/** StatsD ingest: the line parser, the mapping section of the config, recordings in bounded families, and the UDP socket of `serve`. */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { startSidecar } from '../../src/sidecar/host.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { globToRegExp, parseStatsdLine, procNetAddress, udpSocketDrops } from '../../src/sidecar/statsd.js';
import { lintedExpositions } from '../helpers/exposition.js';
import { makeSidecar, sampleLines } from './fixtures.js';

const linted = lintedExpositions();

describe('parseStatsdLine', () => {
  it.each([
    ['page.hits:1|c', { name: 'page.hits', type: 'c', value: 1, delta: false, rate: 1, tags: {} }],
    ['page.hits:3|c|@0.1', { name: 'page.hits', type: 'c', value: 3, delta: false, rate: 0.1, tags: {} }],
    ['queue.size:42|g', { name: 'queue.size', type: 'g', value: 42, delta: false, rate: 1, tags: {} }],
    ['queue.size:+5|g', { name: 'queue.size', type: 'g', value: 5, delta: true, rate: 1, tags: {} }],
    ['queue.size:-2|g', { name: 'queue.size', type: 'g', value: -2, delta: true, rate: 1, tags: {} }],
    ['req.time:320|ms|#stage:embed,env:prod', { name: 'req.time', type: 'ms', value: 320, delta: false, rate: 1, tags: { stage: 'embed', env: 'prod' } }],
    ['req.size:1.5e3|h', { name: 'req.size', type: 'h', value: 1500, delta: false, rate: 1, tags: {} }],
    ['req.size:7|d|@0.5|#canary', { name: 'req.size', type: 'd', value: 7, delta: false, rate: 0.5, tags: { canary: '' } }],
    ['x:1|c|#a:b|c:abc123|T1700000000', { name: 'x', type: 'c', value: 1, delta: false, rate: 1, tags: { a: 'b' } }],
  ])('%s parses', (line, want) => {
    expect(parseStatsdLine(line)).toEqual({ ok: true, samples: [want] });
  });

  it('reads several values of one line (name:v1:v2|type)', () => {
    const r = parseStatsdLine('t:1:2:3|ms');
    expect(r.ok && r.samples.map((s) => s.value)).toEqual([1, 2, 3]);
  });

  it.each([
    ['no colon', 'page.hits|c', 'malformed_line'],
    ['no type', 'page.hits:1', 'malformed_line'],
    ['empty name', ':1|c', 'malformed_line'],
    ['space in name', 'page hits:1|c', 'malformed_line'],
    ['unknown field', 'x:1|c|!x', 'malformed_line'],
    ['set type', 'users:alice|s', 'unsupported_type'],
    ['unknown type', 'x:1|q', 'unsupported_type'],
    ['DogStatsD event', '_e{5,4}:title|text', 'unsupported_type'],
    ['service check', '_sc|redis.can_connect|0', 'unsupported_type'],
    ['non-numeric value', 'x:abc|c', 'invalid_value'],
    ['negative counter', 'x:-1|c', 'invalid_value'],
    ['infinite value', 'x:1e999|g', 'invalid_value'],
    ['rate 0', 'x:1|c|@0', 'invalid_sample_rate'],
    ['rate above 1', 'x:1|c|@2', 'invalid_sample_rate'],
    ['rate not a number', 'x:1|c|@abc', 'invalid_sample_rate'],
  ])('%s (%s) is refused as %s', (_what, line, reason) => {
    const r = parseStatsdLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });
});

describe('globToRegExp', () => {
  it.each([
    ['scraper.*.items', 'scraper.beatport.items', ['beatport']],
    ['scraper.*.items', 'scraper.a.b.items', null],
    ['a+b.*', 'a+b.c', ['c']],
    ['a.b', 'aXb', null],
  ])('%s against %s captures %j', (glob, name, want) => {
    const m = globToRegExp(glob).exec(name);
    expect(m === null ? null : m.slice(1)).toEqual(want);
  });
});

const CONFIG = `
families:
  - name: worker_cache_hits_total
    type: counter
    help: Cache hits of a worker, by cache.
    labels: [cache]
  - name: worker_queue_size
    type: gauge
    help: Items in a worker's local queue.
    labels: [worker]
  - name: worker_request_seconds
    type: histogram
    help: Request time by stage.
    labels: [stage]
    buckets: [0.1, 0.5, 1]
statsd:
  enabled: true
  max_packet: 1KiB
  series_ttl: 5m
  mappings:
    - match: "scraper.*.items.*"
      family: scraper_items_created_total
      labels: { scraper: "$1", item_type: "$2", source: statsd }
    - match: "cache\\\\.(?<cache>[a-z]+)\\\\.hit"
      match_type: regex
      family: worker_cache_hits_total
      labels: { cache: "\${cache}" }
    - match: "worker.*.queue"
      family: worker_queue_size
      labels: { worker: "$1" }
    - match: "request.time"
      family: worker_request_seconds
    - match: "jobs.*.finished"
      family: pipeline_jobs_finished_total
      labels: { pipeline: video }
`;

describe('StatsD ingest through the sidecar', () => {
  async function ingest(...packets: string[]) {
    const t = makeSidecar(CONFIG);
    for (const p of packets) t.sidecar.handleStatsdPacket!(Buffer.from(p));
    const text = await linted.text(t.sidecar.meter);
    return { ...t, text };
  }

  it('maps counters (with sample rates) onto a catalog family by glob captures', async () => {
    const { text } = await ingest('scraper.beatport.items.track:3|c\nscraper.beatport.items.track:1|c|@0.5', 'scraper.spotify.items.playlist:2|c');
    expect(sampleLines(text, 'scraper_items_created_total{')).toEqual([
      'scraper_items_created_total{scraper="beatport",item_type="track",source="statsd"} 5',
      'scraper_items_created_total{scraper="spotify",item_type="playlist",source="statsd"} 2',
    ]);
  });

  it('maps by regex with named captures onto a declared family', async () => {
    const { text } = await ingest('cache.redis.hit:1|c', 'cache.redis.hit:4|c', 'cache.local.hit:1|c');
    expect(sampleLines(text, 'worker_cache_hits_total')).toEqual(['worker_cache_hits_total{cache="redis"} 5', 'worker_cache_hits_total{cache="local"} 1']);
  });

  it('sets gauges, and moves them by signed deltas', async () => {
    const { text } = await ingest('worker.w1.queue:10|g', 'worker.w1.queue:+5|g\nworker.w1.queue:-3|g', 'worker.w2.queue:7|g\nworker.w2.queue:1|g');
    expect(sampleLines(text, 'worker_queue_size')).toEqual(['worker_queue_size{worker="w1"} 12', 'worker_queue_size{worker="w2"} 1']);
  });

  it('observes timers in seconds, histograms as sent, labels from DogStatsD tags, sampled timers once per 1/rate', async () => {
    const { text } = await ingest('request.time:320|ms|#stage:embed', 'request.time:0.05|h|#stage:embed', 'request.time:800|ms|@0.5|#stage:chunk');
    expect(sampleLines(text, 'worker_request_seconds')).toEqual([
      'worker_request_seconds_bucket{stage="embed",le="0.1"} 1',
      'worker_request_seconds_bucket{stage="embed",le="0.5"} 2',
      'worker_request_seconds_bucket{stage="embed",le="1"} 2',
      'worker_request_seconds_bucket{stage="embed",le="+Inf"} 2',
      'worker_request_seconds_sum{stage="embed"} 0.37',
      'worker_request_seconds_count{stage="embed"} 2',
      'worker_request_seconds_bucket{stage="chunk",le="0.1"} 0',
      'worker_request_seconds_bucket{stage="chunk",le="0.5"} 0',
      'worker_request_seconds_bucket{stage="chunk",le="1"} 2',
      'worker_request_seconds_bucket{stage="chunk",le="+Inf"} 2',
      'worker_request_seconds_sum{stage="chunk"} 1.6',
      'worker_request_seconds_count{stage="chunk"} 2',
    ]);
  });

  it('counts every line: accepted, and each refusal by reason; nothing refused reaches a family', async () => {
    const { text, logs } = await ingest(
      'scraper.beatport.items.track:1|c\nnot a line\nunmapped.metric:1|c\nworker.w1.queue:1|c\nrequest.time:5|ms\njobs.x.finished:1|c\n',
      'x'.repeat(2000),
    );
    expect(sampleLines(text, 'pipemeter_ingest_events_total{source="statsd"')).toEqual([
      'pipemeter_ingest_events_total{source="statsd",outcome="accepted"} 1',
      'pipemeter_ingest_events_total{source="statsd",outcome="rejected"} 6',
    ]);
    const rejected = sampleLines(text, 'pipemeter_ingest_rejected_total{source="statsd"').filter((l) => !l.endsWith(' 0'));
    expect(rejected).toEqual([
      'pipemeter_ingest_rejected_total{source="statsd",reason="malformed_line"} 1',
      'pipemeter_ingest_rejected_total{source="statsd",reason="unmapped"} 1',
      'pipemeter_ingest_rejected_total{source="statsd",reason="type_mismatch"} 1',
      // request.time without a stage tag; jobs.*.finished without an outcome (a closed set, so it must be mapped).
      'pipemeter_ingest_rejected_total{source="statsd",reason="invalid_label_value"} 2',
      'pipemeter_ingest_rejected_total{source="statsd",reason="packet_too_large"} 1',
    ]);
    expect(sampleLines(text, 'worker_request_seconds_count', 'pipeline_jobs_finished_total{pipeline="video"')).toEqual([]);
    expect(logs.filter((l) => l.includes('statsd'))).toHaveLength(5);
  });

  it('folds label values past the series cap into the overflow series and counts it', async () => {
    const t = makeSidecar(CONFIG.replace('families:', 'limits:\n  max_series: 3\nfamilies:'));
    for (let i = 0; i < 10; i++) t.sidecar.handleStatsdPacket!(Buffer.from(`cache.c${'abcdefghij'[i]}.hit:1|c`));
    const text = await linted.text(t.sidecar.meter);
    expect(sampleLines(text, 'worker_cache_hits_total')).toHaveLength(4);
    expect(sampleLines(text, 'worker_cache_hits_total{cache="__overflow__"}')).toEqual(['worker_cache_hits_total{cache="__overflow__"} 7']);
    expect(sampleLines(text, 'pipemeter_series_overflow_total{metric="worker_cache_hits_total"}')).toEqual(['pipemeter_series_overflow_total{metric="worker_cache_hits_total"} 7']);
  });

  it('expires only series idle for series_ttl: a counter still written keeps counting, never resets', async () => {
    const t = makeSidecar(CONFIG);
    const send = (p: string) => t.sidecar.handleStatsdPacket!(Buffer.from(p));
    send('cache.live.hit:1|c');
    send('cache.idle.hit:1|c');
    for (let minute = 0; minute < 12; minute++) {
      t.clock.advance(60_000);
      send('cache.live.hit:1|c');
      t.sidecar.sweep();
    }
    const text = await linted.text(t.sidecar.meter);
    expect(sampleLines(text, 'worker_cache_hits_total')).toEqual(['worker_cache_hits_total{cache="live"} 13']);
  });
});

describe('statsd config', () => {
  it('is off by default, and on loopback when enabled', () => {
    expect(loadConfig('', 'a.yaml').statsd).toMatchObject({ enabled: false, host: '127.0.0.1', port: 9125 });
    expect(loadConfig('statsd: {enabled: true}', 'a.yaml').statsd).toMatchObject({ enabled: true, host: '127.0.0.1' });
  });

  it.each([
    ['an unknown family', 'statsd:\n  mappings:\n    - match: "a.*"\n      family: nope_total\n', /a\.yaml:4:15: statsd.mappings\[0\].family: "nope_total" is neither/],
    ['a sidecar family', 'statsd:\n  mappings:\n    - match: "a.*"\n      family: pipemeter_ingest_events_total\n', /is neither a scraper, pipeline or broker family/],
    ['a label the family lacks', 'statsd:\n  mappings:\n    - match: "a.*"\n      family: queue_depth\n      labels: {host: "$1"}\n', /labels.host: queue_depth has no label "host"/],
    ['a capture the glob lacks', 'statsd:\n  mappings:\n    - match: "a.*"\n      family: queue_depth\n      labels: {queue: "$2"}\n', /reads capture 2, but a\.\* has only 1/],
    ['a value outside a closed set', 'statsd:\n  mappings:\n    - match: "a.*"\n      family: pipeline_jobs_finished_total\n      labels: {outcome: done}\n', /outcome is one of completed, failed, cancelled, abandoned, got "done"/],
    ['a bad regex', 'statsd:\n  mappings:\n    - match: "a(("\n      match_type: regex\n      family: queue_depth\n', /statsd.mappings\[0\].match: Invalid regular expression/],
    ['a short series_ttl', 'statsd:\n  series_ttl: 10s\n', /statsd.series_ttl: expected a duration of at least 60000ms/],
    ['a packet over the UDP maximum', 'statsd:\n  max_packet: 1MiB\n', /a UDP datagram holds at most 65507 bytes/],
  ])('refuses %s with file:line:col', (_what, yaml, want) => {
    expect(() => loadConfig(yaml, 'a.yaml')).toThrow(want);
  });
});

describe('pipemeter serve with statsd enabled', () => {
  it('reads datagrams on its UDP socket (port 0: a free one) and closes it on close()', async () => {
    const config = loadConfig(CONFIG, 'statsd.yaml');
    const running = await startSidecar(config, { metricsPort: 0, ingestPort: 0, statsdPort: 0, drainMs: 100, deps: { logger: () => {} } });
    try {
      expect(running.statsdAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      const port = Number(running.statsdAddress!.split(':')[1]);
      const client = createSocket('udp4');
      await new Promise<void>((done) => client.send('cache.udp.hit:2|c\ncache.udp.hit:3|c', port, '127.0.0.1', () => done()));
      client.close();
      let line: string[] = [];
      for (let i = 0; i < 50 && line.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        line = sampleLines(await running.meter.render('text'), 'worker_cache_hits_total{cache="udp"}');
      }
      expect(line).toEqual(['worker_cache_hits_total{cache="udp"} 5']);
    } finally {
      await running.close();
    }
  });
});

describe('datagrams the kernel drops', () => {
  // Two sockets as /proc/net/udp lists them (127.0.0.1:47270 with 197 drops, 0.0.0.0:32873), then udp6's ::1:60194.
  const udp = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1643: 0100007F:B8A6 00000000:0000 07 00000000:00001B00 00:00000000 00000000     0        0 486034 2 00000000f7084bae 197
 3630: 00000000:8069 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 486035 2 00000000767d314c 0
`;
  const udp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
14567: 00000000000000000000000001000000:EB22 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 485190 2 000000008e591abc 12
`;

  it('reads the drop count of the socket bound to a port, and only when exactly one socket matches', () => {
    expect(procNetAddress('127.0.0.1')).toBe('0100007F');
    expect(procNetAddress('0.0.0.0')).toBe('00000000');
    expect(udpSocketDrops(udp, 47270, '0100007F')).toBe(197);
    expect(udpSocketDrops(udp, 47270, '00000000')).toBeUndefined();
    expect(udpSocketDrops(udp, 32873)).toBe(0);
    expect(udpSocketDrops(udp, 9125)).toBeUndefined();
    expect(udpSocketDrops(udp6, 60194)).toBe(12);
    expect(udpSocketDrops(udp + udp.split('\n')[1] + '\n', 47270)).toBeUndefined();
  });

  it('adds only what is new to the counter, which never goes down', () => {
    const t = makeSidecar(CONFIG);
    const read = () => t.sidecar.meter.catalog.statsdDatagramsDropped.labels({}).value;
    t.sidecar.recordStatsdKernelDrops!(0);
    expect(read()).toBe(0);
    t.sidecar.recordStatsdKernelDrops!(7);
    t.sidecar.recordStatsdKernelDrops!(7);
    t.sidecar.recordStatsdKernelDrops!(10);
    expect(read()).toBe(10);
    t.sidecar.recordStatsdKernelDrops!(3);
    expect(read()).toBe(10);
  });

  it.runIf(process.platform === 'linux')('counts what a full receive buffer dropped: accepted lines plus dropped datagrams are all that were sent', async () => {
    const config = loadConfig(CONFIG, 'statsd.yaml');
    const running = await startSidecar(config, { metricsPort: 0, ingestPort: 0, statsdPort: 0, drainMs: 100, kernelDropsEveryMs: 50, deps: { logger: () => {} } });
    try {
      const port = Number(running.statsdAddress!.split(':')[1]);
      // Another process sends 20 000 one-line datagrams of ~1 KB (20 MB, more than any receive buffer holds)
      // while this one's event loop is blocked, so the kernel must drop some.
      const sent = 20_000;
      const sender = spawn(process.execPath, [
        '-e',
        `const s = require('node:dgram').createSocket('udp4'); const pad = ',pad:' + 'x'.repeat(1000);
         let done = 0, failed = 0;
         for (let i = 0; i < ${sent}; i++) s.send('cache.udp.hit:1|c|#' + pad.slice(1), ${port}, '127.0.0.1', (e) => { if (e) failed++; if (++done === ${sent}) { console.log(failed); s.close(); } });`,
      ]);
      let out = '';
      sender.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => sender.on('exit', r));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
      expect(await exited).toBe(0);
      expect(out.trim()).toBe('0');
      const counts = async () => {
        const text = await running.meter.render('text');
        const one = (prefix: string) => Number(sampleLines(text, prefix)[0]?.split(' ')[1] ?? NaN);
        return { accepted: one('pipemeter_ingest_events_total{source="statsd",outcome="accepted"}'), dropped: one('pipemeter_statsd_datagrams_dropped_total') };
      };
      let c = await counts();
      for (let i = 0; i < 100 && c.accepted + c.dropped !== sent; i++) {
        await new Promise((r) => setTimeout(r, 50));
        c = await counts();
      }
      expect(c.dropped).toBeGreaterThan(0);
      expect(c.accepted + c.dropped).toBe(sent);
    } finally {
      await running.close();
    }
  });
});
