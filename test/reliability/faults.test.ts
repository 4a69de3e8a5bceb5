/**
 * Faults: probe targets that hang, reset, fail or crawl; a state file missing, corrupt or unwritable at
 * start and while running; SIGTERM in the middle of large batches; SIGKILL, then a restart from the snapshot.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { type Server, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/host.js';
import { createMeter } from '../../src/index.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { Prober, undiciProbe } from '../../src/sidecar/probes.js';
import { createSidecar } from '../../src/sidecar/sidecar.js';
import { sampleLines } from '../sidecar/fixtures.js';
import { builtCli } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-faults-'));
const servers: (Server | NetServer)[] = [];
const sockets = new Set<Socket>();
const children: ChildProcess[] = [];
const running: RunningSidecar[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of sockets) s.destroy();
  for (const s of servers) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    s.close();
  }
  await Promise.all(running.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function listen<T extends Server | NetServer>(s: T): Promise<number> {
  servers.push(s);
  s.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as { port: number }).port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('probe targets that misbehave', () => {
  const targets: Record<string, string> = {};

  beforeAll(async () => {
    // Accepts the connection and never answers.
    targets.hang = `http://127.0.0.1:${await listen(createNetServer(() => {}))}/health`;
    // Resets the connection as soon as it is made.
    targets.reset = `http://127.0.0.1:${await listen(createNetServer((s) => s.resetAndDestroy()))}/health`;
    targets.error = `http://127.0.0.1:${await listen(createHttpServer((_q, r) => r.writeHead(500).end('boom')))}/health`;
    targets.slowOk = `http://127.0.0.1:${await listen(createHttpServer((_q, r) => void setTimeout(() => r.end('ok'), 150)))}/health`;
    targets.tooSlow = `http://127.0.0.1:${await listen(createHttpServer((_q, r) => void setTimeout(() => r.end('ok'), 1500)))}/health`;
    // Sends its headers, then a body that never ends.
    targets.endless = `http://127.0.0.1:${await listen(
      createHttpServer((_q, r) => {
        r.writeHead(200);
        const t = setInterval(() => r.write('x'), 20);
        r.on('close', () => clearInterval(t));
      }),
    )}/health`;
    const closed = createNetServer();
    const port = await listen(closed);
    closed.close();
    targets.refused = `http://127.0.0.1:${port}/health`;
  });

  it.each([
    ['hangs', 'hang', 0],
    ['resets the connection', 'reset', 0],
    ['answers 500', 'error', 0],
    ['answers in 150 ms (under the timeout)', 'slowOk', 1],
    ['answers in 1.5 s (over the timeout)', 'tooSlow', 0],
    ['sends a body that never ends', 'endless', 0],
    ['refuses connections', 'refused', 0],
  ])('a target that %s (%s): probe_success %i, within the timeout, logged', async (_what, name, success) => {
    const meter = createMeter({ defaultMetrics: false });
    const logs: string[] = [];
    const cfg = { name, url: targets[name]!, intervalMs: 5000, timeoutMs: 400 };
    const prober = new Prober([cfg], meter, undiciProbe, (m) => logs.push(m));
    const t0 = performance.now();
    expect(await prober.probe(cfg)).toBe(success === 1);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(400 + 300);
    const text = await meter.metrics();
    expect(sampleLines(text, `probe_success{target="${name}"}`)).toEqual([`probe_success{target="${name}"} ${success}`]);
    const duration = Number(sampleLines(text, `probe_duration_seconds{target="${name}"}`)[0]!.split(' ')[1]);
    expect(duration).toBeLessThan(0.7);
    if (success === 0) expect(logs).toHaveLength(1);
    else expect(duration).toBeGreaterThanOrEqual(0.14);
  });

  it('stop() aborts a probe in flight at a hanging target and leaves no timer or socket behind', async () => {
    const meter = createMeter({ defaultMetrics: false });
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
    const prober = new Prober([{ name: 'hang', url: targets.hang!, intervalMs: 1000, timeoutMs: 900 }], meter, undiciProbe, () => {});
    prober.start();
    await sleep(100);
    prober.stop();
    await sleep(100);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
    expect(after).toBeLessThanOrEqual(before);
    expect(sampleLines(await meter.metrics(), 'probe_success{target="hang"}')).toEqual(['probe_success{target="hang"} 0']);
  });
});

describe('the state file: missing, corrupt or unwritable, at start and while running', () => {
  const yaml = (file: string) => `pipelines:\n  video: {}\nstate: { file: ${JSON.stringify(file)} }\n`;
  const job = (id: string) => ({ type: 'job_started', pipeline: 'video', job_id: id });

  async function sidecarAt(file: string) {
    const logs: string[] = [];
    const s = createSidecar(loadConfig(yaml(file), 'state.yaml'), { meter: createMeter({ defaultMetrics: false }), logger: (m) => logs.push(m), probe: async () => 200 });
    await s.start();
    return { s, logs, http: request(s.ingestApp) };
  }

  const ignored = (why: string) => ['warning: ignoring the state file', why, 'starting with an empty job table'];
  it.each([
    ['missing', (f: string) => rmSync(f, { force: true }), undefined],
    ['cut off in a record', (f: string) => writeFileSync(f, '{"version":1,"jobs":[{"pip'), ['the file breaks off at character 26, so nothing after it was read; no record was dropped before it; restored the rest']],
    ['empty', (f: string) => writeFileSync(f, ''), ignored('it is not a pipemeter state file')],
    ['not JSON', (f: string) => writeFileSync(f, 'root:x:0:0:root:/root:/bin/bash\n'), ignored('it does not start with "{" (character 0); it is not a pipemeter state file')],
    ['of another version', (f: string) => writeFileSync(f, '{"version":99,"jobs":[],"finished":[],"webhookKeys":[]}'), ignored('state version 99 is not 1')],
    ['holding a bad job record', (f: string) => writeFileSync(f, '{"version":1,"jobs":[{"pipeline":"video"}],"finished":[],"webhookKeys":[]}'), ['dropped 1 of 1 job records (1 invalid_event); restored the rest']],
    ['a directory', (f: string) => mkdirSync(f, { recursive: true }), ignored('cannot read (it is a directory, not a regular file)')],
  ])('%s at start: starts with a clear warning (or none when missing), serves, and the next snapshot writes a good file', async (what, make, warning) => {
    const sub = join(dir, `start-${what.replace(/\W+/g, '-')}`);
    mkdirSync(sub, { recursive: true });
    const file = join(sub, 'state.json');
    make(file);
    const { s, logs, http } = await sidecarAt(file);
    expect(s.ready).toBe(true);
    if (warning === undefined) expect(logs).toEqual([]);
    else {
      expect(logs).toHaveLength(1);
      for (const w of warning) expect(logs[0]).toContain(w);
      // Whatever the file holds, no warning repeats it.
      expect(logs[0]).not.toContain('root:x');
    }
    await http.post('/v1/events').send(job('a')).expect(200);
    if (what === 'a directory') rmSync(file, { recursive: true });
    await s.stop();
    expect(JSON.parse(readFileSync(file, 'utf8')).jobs).toMatchObject([{ pipeline: 'video', id: 'a' }]);
  });

  it('unwritable at start (its directory is a file): starts, serves, warns at each snapshot, never throws', async () => {
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'a file where a directory should be');
    const { s, logs, http } = await sidecarAt(join(blocker, 'state.json'));
    expect(s.ready).toBe(true);
    await http.post('/v1/events').send(job('a')).expect(200);
    await s.snapshot();
    await http.post('/v1/events').send(job('b')).expect(200);
    await s.stop();
    const writes = logs.filter((l) => l.includes('could not write the state file'));
    expect(writes).toHaveLength(2);
    expect(writes[0]).toContain('the job table stays in memory');
    expect(s.jobs.size).toBe(2);
  });

  it('unwritable while running, then writable again: serving never stops, the next snapshot after the fix holds every job', async () => {
    const sub = join(dir, 'running');
    mkdirSync(sub, { recursive: true });
    const file = join(sub, 'state.json');
    const { s, logs, http } = await sidecarAt(file);
    await http.post('/v1/events').send(job('a')).expect(200);
    await s.snapshot();
    expect(JSON.parse(readFileSync(file, 'utf8')).jobs).toHaveLength(1);
    // The directory goes away and a file takes its place: every write now fails.
    rmSync(sub, { recursive: true });
    writeFileSync(sub, 'not a directory');
    await http.post('/v1/events').send(job('b')).expect(200);
    await s.snapshot();
    expect(logs.filter((l) => l.includes('could not write the state file'))).toHaveLength(1);
    await http.post('/v1/events').send(job('c')).expect(200);
    rmSync(sub);
    mkdirSync(sub);
    await s.stop();
    expect(JSON.parse(readFileSync(file, 'utf8')).jobs.map((j: { id: string }) => j.id)).toEqual(['a', 'b', 'c']);
    // No temporary file is left behind.
    expect(readdirSync(sub)).toEqual(['state.json']);
  });
});

describe('the built binary: SIGTERM in the middle of batches, SIGKILL and restart', () => {
  let main = '';

  beforeAll(() => {
    main = builtCli();
    expect(existsSync(main)).toBe(true);
  }, 70_000);

  async function serve(config: string): Promise<{ child: ChildProcess; ingest: string; metrics: string; out: () => string; exited: Promise<number | null> }> {
    const child = spawn('node', [main, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 10_000;
    while (!/ingest on (\S+)\/v1\/events/.test(out) && Date.now() < deadline && child.exitCode === null) await sleep(20);
    const ingest = /ingest on (\S+)\/v1\/events/.exec(out)?.[1];
    const metrics = /metrics on (\S+),/.exec(out)?.[1];
    expect(ingest, `serve did not start: ${out}`).toBeDefined();
    return { child, ingest: ingest!, metrics: metrics!, out: () => out, exited };
  }

  const ndjson = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `{"type":"job_started","pipeline":"video","job_id":"${prefix}-${i}","at":"2024-05-01T12:00:00Z"}`).join('\n') + '\n';

  /** post sends a body in two halves, with `between` run after the first; resolves to the status and body, or the error. */
  function post(url: string, body: string, between?: () => void, restAfterMs = 100): Promise<{ status: number; text: string } | { error: string }> {
    const u = new URL(`${url}/v1/events`);
    return new Promise((resolve) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', (e) => resolve({ error: e.message }));
      });
      req.on('error', (e) => resolve({ error: e.message }));
      req.setTimeout(15_000, () => req.destroy(new Error('client timeout')));
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half), () => {
        between?.();
        setTimeout(() => req.end(body.slice(half)), restAfterMs);
      });
    });
  }

  it('SIGTERM during 12 concurrent batches of 5 000 lines: every answered batch is applied whole, none in part, and the state file holds exactly them', async () => {
    const state = join(dir, 'sigterm-state.json');
    const config = join(dir, 'sigterm.yaml');
    writeFileSync(config, `listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\npipelines:\n  video: {}\nlimits: { body_size: 4MiB }\nstate: { file: ${state} }\n`);
    const s = await serve(config);
    const batches = Array.from({ length: 12 }, (_, b) => ndjson(`b${b}`, 5000));
    let halfway = 0;
    const answers = await Promise.all(
      batches.map((body) =>
        post(
          s.ingest,
          body,
          () => {
            // The signal lands while every batch is half uploaded: 150 ms after the last first half, 450 ms before the second halves.
            if (++halfway === batches.length) setTimeout(() => s.child.kill('SIGTERM'), 150);
          },
          600,
        ),
      ),
    );
    expect(await s.exited).toBe(0);
    expect(s.out()).toContain('pipemeter serve: stopped\n');
    const jobs = JSON.parse(readFileSync(state, 'utf8')).jobs as { id: string }[];
    const byBatch = new Map<string, number>();
    for (const j of jobs) byBatch.set(j.id.split('-')[0]!, (byBatch.get(j.id.split('-')[0]!) ?? 0) + 1);
    let answered = 0;
    answers.forEach((a, b) => {
      const n = byBatch.get(`b${b}`) ?? 0;
      if ('status' in a && a.status === 200) {
        answered++;
        expect(JSON.parse(a.text)).toEqual({ accepted: 5000, rejected: [] });
        expect(n).toBe(5000);
      } else {
        // A batch the client saw fail was not applied at all.
        expect(n).toBe(0);
      }
    });
    // Requests in flight at the signal are drained, not cut: all of them were answered.
    expect(answered).toBe(12);
    expect(jobs).toHaveLength(answered * 5000);
  }, 40_000);

  it('a batch whose upload outlasts the drain is cut before it is read: nothing of it is applied, and the client sees the failure', async () => {
    const r = await startSidecar(loadConfig('pipelines:\n  video: {}\nlimits: { body_size: 4MiB }\n', 'cut.yaml'), {
      metricsPort: 0,
      ingestPort: 0,
      metricsHost: '127.0.0.1',
      drainMs: 300,
      deps: { meter: createMeter({ defaultMetrics: false }), logger: () => {} },
    });
    running.push(r);
    const body = ndjson('cut', 5000);
    const u = new URL(`${r.ingestUrl}/v1/events`);
    const answer = new Promise<{ status: number } | { error: string }>((resolve) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      });
      req.on('error', (e) => resolve({ error: e.message }));
      // Half the body, and the rest never comes.
      req.write(body.slice(0, body.length / 2));
    });
    await sleep(100);
    const t0 = Date.now();
    await r.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await answer).toMatchObject({ error: expect.any(String) });
    expect(sampleLines(await r.meter.metrics(), 'pipeline_jobs_started_total')).toEqual(['pipeline_jobs_started_total{pipeline="video"} 0']);
    expect(r.sidecar.jobs.size).toBe(0);
  });

  it('SIGKILL, then a restart: the jobs of the last snapshot come back, only those accepted after it are lost', async () => {
    const state = join(dir, 'sigkill-state.json');
    const config = join(dir, 'sigkill.yaml');
    writeFileSync(config, `listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\npipelines:\n  video: {}\nstate: { file: ${state}, snapshot_interval: 300ms }\n`);
    const first = await serve(config);
    expect(await post(first.ingest, ndjson('a', 1000))).toMatchObject({ status: 200 });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !(existsSync(state) && JSON.parse(readFileSync(state, 'utf8')).jobs.length === 1000)) await sleep(25);
    expect(JSON.parse(readFileSync(state, 'utf8')).jobs).toHaveLength(1000);
    // Accepted, then killed before the next snapshot can run.
    expect(await post(first.ingest, ndjson('b', 500))).toMatchObject({ status: 200 });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await serve(config);
    const text = await (await fetch(second.metrics, { signal: AbortSignal.timeout(5000) })).text();
    const inProgress = Number(/^pipeline_jobs_in_progress\{pipeline="video"\} (\d+)$/m.exec(text)?.[1]);
    // Every job of the last snapshot is back; the 500 accepted after it may be lost (here: those not in a snapshot).
    expect(inProgress).toBeGreaterThanOrEqual(1000);
    expect(inProgress).toBeLessThanOrEqual(1500);
    // A restored job keeps its start time: its duration spans the restart.
    const fin = await fetch(`${second.ingest}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'job_finished', pipeline: 'video', job_id: 'a-7', outcome: 'completed', at: '2024-05-01T12:01:00Z' }), signal: AbortSignal.timeout(5000) });
    expect(fin.status).toBe(200);
    const after = await (await fetch(second.metrics, { signal: AbortSignal.timeout(5000) })).text();
    expect(after).toContain('pipeline_job_duration_seconds_sum{pipeline="video",outcome="completed"} 60\n');
    expect(after).toMatch(/^pipemeter_jobs_out_of_order_total\{pipeline="video",kind="finish_unknown_job"\} 0$/m);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    console.log(`faults: SIGKILL 0-300 ms after a snapshot of 1000 jobs and a batch of 500: ${inProgress} in progress after the restart (${1500 - inProgress} lost)`);
  }, 30_000);
});
