import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeter } from '../../src/index.js';
import { Prober, undiciProbe } from '../../src/sidecar/probes.js';
import { sampleLines } from './fixtures.js';

let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/ok') res.end('ok');
    else if (req.url === '/fail') {
      res.statusCode = 503;
      res.end('unhealthy');
    } else if (req.url === '/hang') {
      // Never answers: the probe's timeout must end it.
      req.on('close', () => res.destroy());
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('Prober with undici against a real server', () => {
  it.each([
    ['a 200', '/ok', 1],
    ['a 503', '/fail', 0],
    ['a 404', '/missing', 0],
    ['no answer within the timeout', '/hang', 0],
  ])('%s gives probe_success %i', async (_what, path, want) => {
    const meter = createMeter({ defaultMetrics: false });
    const logs: string[] = [];
    const probe = { name: 'target', url: base + path, intervalMs: 60_000, timeoutMs: 200 };
    const prober = new Prober([probe], meter, undiciProbe, (m) => logs.push(m));
    const t0 = performance.now();
    expect(await prober.probe(probe)).toBe(want === 1);
    const elapsed = (performance.now() - t0) / 1000;
    const text = await meter.metrics();
    expect(sampleLines(text, 'probe_success')).toEqual([`probe_success{target="target"} ${want}`]);
    const duration = Number(sampleLines(text, 'probe_duration_seconds')[0]!.split(' ')[1]);
    expect(duration).toBeGreaterThan(0);
    expect(duration).toBeLessThanOrEqual(elapsed);
    if (path === '/hang') expect(logs[0]).toMatch(/timed out after 200ms|aborted/i);
    if (want === 0) expect(logs).toHaveLength(1);
  });

  it('a refused connection is a failed probe, not a crash', async () => {
    const meter = createMeter({ defaultMetrics: false });
    const probe = { name: 'down', url: 'http://127.0.0.1:1/health', intervalMs: 60_000, timeoutMs: 500 };
    expect(await new Prober([probe], meter, undiciProbe, () => {}).probe(probe)).toBe(false);
    expect(sampleLines(await meter.metrics(), 'probe_success')).toEqual(['probe_success{target="down"} 0']);
  });

  it('start() probes each target at once and again every interval; stop() ends it', async () => {
    const meter = createMeter({ defaultMetrics: false });
    const calls: string[] = [];
    const fetch = async (url: string) => {
      calls.push(url);
      return 200;
    };
    const prober = new Prober(
      [
        { name: 'a', url: 'http://a/h', intervalMs: 1000, timeoutMs: 100 },
        { name: 'b', url: 'http://b/h', intervalMs: 1000, timeoutMs: 100 },
      ],
      meter,
      fetch,
      () => {},
    );
    prober.start();
    const deadline = Date.now() + 5000;
    while (calls.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    prober.stop();
    const seen = calls.length;
    expect(seen).toBeGreaterThanOrEqual(4);
    expect(calls.filter((c) => c === 'http://a/h').length).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 1200));
    expect(calls.length).toBe(seen);
    expect(sampleLines(await meter.metrics(), 'probe_success')).toEqual(['probe_success{target="a"} 1', 'probe_success{target="b"} 1']);
  });
});
