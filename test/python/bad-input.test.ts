/**
 * Bad input into a Python worker, in process and through a real sidecar: wrong types, None, 100 kB strings, NaN, a
 * sidecar that goes away, a full queue. The worker keeps running, never waits, and every loss is counted: by the meter
 * (pipemeter_instrumentation_errors_total), by the sidecar (pipemeter_ingest_rejected_total) and by the client (stats()).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PYTHON, type Serve, describeWithPython, fixtures, key, pythonEnv, repoRoot, sampleValues, startServe, until } from './helpers.js';

type Phase = Record<string, any>;

describeWithPython(['prometheus_client'], [], 'bad input: the worker keeps running and the loss is counted', () => {
  let serve: Serve | undefined;
  let child: ChildProcess | undefined;
  const phases: Phase[] = [];
  let err = '';
  let sidecar = new Map<string, number>();
  let exit: Promise<number | null> = Promise.resolve(null);

  beforeAll(async () => {
    serve = await startServe();
    child = spawn(PYTHON, [`${fixtures}/bad_input.py`, serve.ingestUrl], { cwd: repoRoot, env: pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    exit = new Promise((r) => child!.once('exit', (code) => r(code)));
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) phases.push(JSON.parse(l));
    });
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await until('phase 1', async () => (phases.length >= 1 ? true : undefined), 20_000, () => err);
    sidecar = sampleValues(await (await fetch(serve.metricsUrl)).text());
    await serve.stop();
    serve = undefined;
    child.stdin!.write('stopped\n');
    await until('every phase', async () => (phases.some((p) => p.phase === 'done') ? true : undefined), 30_000, () => err);
  }, 60_000);

  afterAll(async () => {
    child?.kill();
    await serve?.stop();
  });

  it('in process: every bad call is ignored and counted by reason, logged once per reason', () => {
    const p = phases[0]!;
    expect(p.meter_errors).toEqual({
      // A NaN count, a duration "long", a queued_at "yesterday" (a stage of -1 s and a count of 1.5 are numbers, recorded as the Node module does).
      invalid_value: 3,
      negative_increment: 0,
      // An item type 5, an item type None, a schema error with a list and a dict.
      invalid_labels: 3,
      job_finished_twice: 0,
      job_unknown_outcome: 1,
      callback_not_function: 0,
      // Started at zero with every reason of the catalog; the Python meter has no HTTP middleware to refuse a route.
      invalid_route: 0,
    });
    // Three reasons from the meter, two from the client (the NaN count that is not JSON, the sidecar's refusals): each logged once.
    expect(p.logged).toBe(5);
  });

  it('through the sidecar: what it refused is what the client counted, and the good event landed', () => {
    const p = phases[0]!;
    const refusedBySidecar = [...sidecar].filter(([k]) => k.startsWith('pipemeter_ingest_rejected_total{')).reduce((n, [, v]) => n + v, 0);
    expect(p.flushed).toBe(true);
    expect(p.client.dropped.refused).toBe(refusedBySidecar);
    expect(p.client.dropped.refused).toBeGreaterThanOrEqual(7);
    expect(p.client.sent).toBe(p.client.accepted + p.client.dropped.refused);
    expect(p.client.dropped.invalid).toBe(1); // the NaN count: not JSON, never sent
    expect(sidecar.get(key('scraper_items_created_total', { scraper: 'beatport', item_type: 'track', source: 'www.beatport.com' }))).toBe(1);
    expect(sidecar.get(key('scraper_items_created_total', { scraper: 'beatport', item_type: 'track', source: 'invalid' }))).toBe(2);
    // Twice 13 bad calls took well under a second: nothing waited on the network.
    expect(p.seconds).toBeLessThan(1);
  });

  it('a closed sidecar: sending never waits, every event is counted as unreachable', () => {
    const p = phases.find((x) => x.phase === 'sidecar closed')!;
    expect(p.send_seconds).toBeLessThan(0.5);
    expect(p.flushed).toBe(true);
    expect(p.client.dropped.unreachable).toBe(500);
  });

  it('a full queue: the newest events are dropped and counted, none lost uncounted', () => {
    const p = phases.find((x) => x.phase === 'queue full')!;
    expect(p.send_seconds).toBeLessThan(1);
    expect(p.client.dropped.queue_full).toBe(10_000 - 100);
    expect(p.client.dropped.queue_full + p.client.dropped.unreachable + p.client.sent).toBe(10_000);
  });

  it('the worker ran to the end and exits 0', async () => {
    expect(phases.at(-1)).toEqual({ phase: 'done', 'still running': true });
    expect(await exit).toBe(0);
  });
});
