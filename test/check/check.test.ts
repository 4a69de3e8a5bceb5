/** checkTargets and protobuf: it asks for text, a pipemeter target with native histograms answers text, and a protobuf answer is a finding. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkTargets } from '../../src/check/check.js';
import { checkDefaults } from '../../src/check/settings.js';
import { CONTENT_TYPE, createMeter } from '../../src/index.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

describe('check and protobuf', () => {
  it('asks a pipemeter target with native histograms for text and gets OpenMetrics with the classic buckets', async () => {
    const m = createMeter({ defaultMetrics: false });
    m.pipeline('video').job('v-1').stageObserved('transcription', 41.2);
    const accepts: string[] = [];
    const handler = m.router();
    const server = createServer((req, res) => {
      accepts.push(String(req.headers.accept));
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    const report = await checkTargets({ ...checkDefaults, urls: [url], catalog: true });
    expect(accepts[0]).not.toContain('protobuf');
    expect(report.targets[0]).toMatchObject({ ok: true, format: 'openmetrics' });
    expect(report.targets[0]!.findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('reports a target that answers protobuf whatever it was asked, instead of parsing the bytes as text', async () => {
    const m = createMeter({ defaultMetrics: false });
    m.pipeline('video').job('v-1').stageObserved('transcription', 41.2);
    const server = createServer((_req, res) => {
      void m.renderChunks('protobuf').then((chunks) => {
        res.setHeader('Content-Type', CONTENT_TYPE.protobuf);
        res.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const report = await checkTargets({ ...checkDefaults, urls: [`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`] });
    expect(report.ok).toBe(false);
    expect(report.targets[0]!.findings).toEqual([expect.objectContaining({ severity: 'error', code: 'protobuf-answer' })]);
    expect(report.targets[0]!.findings[0]!.message).toMatch(/answered protobuf .* make the target answer what the Accept header asks for/);
  });
});
