import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipemeterError } from '../../src/shared/errors.js';
import { dedupDigest } from '../../src/sidecar/firecrawl.js';
import type { JobRecord } from '../../src/sidecar/jobs.js';
import {
  MAX_RECORD_CHARS,
  type SidecarState,
  type StateSummary,
  describeDrops,
  jobRecord,
  loadState,
  nodeSidecarFs,
  openExclusive,
  stateChunks,
} from '../../src/sidecar/state.js';
import { readRegularFile } from '../../src/shared/files.js';

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = Date.parse('2024-05-01T12:00:00Z');
const state: SidecarState = {
  savedAt: NOW,
  jobs: [{ pipeline: 'crawl', id: 'c-1', createdAt: NOW - 1000, startedAt: NOW - 900, initiatedAt: NOW - 2000 }],
  finished: ['crawl\u0001c-0'],
  webhookKeys: [dedupDigest('w\u0001abc')],
};

/** load reads text as the sidecar does (in chunks of `chunk` characters) and returns what it restored and the summary. */
async function load(text: string, chunk = 1 << 16, now = NOW) {
  const got = { jobs: [] as JobRecord[], finished: [] as string[], webhookKeys: [] as string[] };
  async function* chunks() {
    for (let i = 0; i < text.length; i += chunk) yield Buffer.from(text.slice(i, i + chunk));
  }
  const summary = await loadState(chunks(), 'f', now, { job: (r) => got.jobs.push(r), finished: (k) => got.finished.push(k), webhookKey: (k) => got.webhookKeys.push(k) });
  return { ...got, summary };
}

async function readBack(file: string) {
  const chunks = await nodeSidecarFs.openStateFile(file);
  const got = { jobs: [] as JobRecord[], finished: [] as string[], webhookKeys: [] as string[] };
  const summary = await loadState(chunks!, file, NOW, { job: (r) => got.jobs.push(r), finished: (k) => got.finished.push(k), webhookKey: (k) => got.webhookKeys.push(k) });
  return { ...got, summary };
}

describe('state file on a real file system', () => {
  it('replaceStateFile creates the directory, writes a temp file and renames it: only the final file remains, mode 0600', async () => {
    const file = join(dir, 'nested', 'state.json');
    await nodeSidecarFs.replaceStateFile(file, stateChunks(state));
    expect(readdirSync(join(dir, 'nested'))).toEqual(['state.json']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, ...state });
    const back = await readBack(file);
    expect(back).toMatchObject({ jobs: state.jobs, finished: state.finished, webhookKeys: state.webhookKeys });
    expect(back.summary.restored).toEqual({ jobs: 1, finished: 1, webhookKeys: 1 });
    expect(execFileSync('stat', ['-c', '%a', file], { encoding: 'utf8' }).trim()).toBe('600');
  });

  it('a write over an existing file replaces it whole', async () => {
    const file = join(dir, 'replace.json');
    writeFileSync(file, 'old contents that are not JSON');
    await nodeSidecarFs.replaceStateFile(file, stateChunks({ ...state, jobs: [] }));
    expect((await readBack(file)).jobs).toEqual([]);
  });

  it('a missing file opens as undefined', async () => {
    expect(await nodeSidecarFs.openStateFile(join(dir, 'none.json'))).toBeUndefined();
  });

  it.each([
    ['a directory', () => dir, 'it is a directory, not a regular file'],
    [
      'a FIFO (issue 19 item 11: /readyz stayed 503 for 143 s)',
      () => {
        const f = join(dir, 'fifo');
        execFileSync('mkfifo', [f]);
        return f;
      },
      'it is a FIFO, not a regular file',
    ],
    ['/dev/zero', () => '/dev/zero', 'it is a character device, not a regular file'],
  ])('%s is refused at once, never read or waited on', async (_what, path, message) => {
    const t0 = performance.now();
    await expect(nodeSidecarFs.openStateFile(path())).rejects.toThrow(message);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('issue 19 item 11: a symlink planted at the old temp name (state.json.<pid>.tmp) is never written through', async () => {
    const sub = mkdtempSync(join(dir, 'planted-'));
    const target = join(sub, 'victim');
    writeFileSync(target, 'precious\n');
    const file = join(sub, 'state.json');
    symlinkSync(target, `${file}.${process.pid}.tmp`);
    await nodeSidecarFs.replaceStateFile(file, stateChunks(state));
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    expect(JSON.parse(readFileSync(file, 'utf8')).jobs).toHaveLength(1);
  });

  it('the temp file is opened exclusively and without following links: a planted symlink or file makes the open fail', async () => {
    const target = join(dir, 'victim2');
    writeFileSync(target, 'precious\n');
    const link = join(dir, 'link.tmp');
    symlinkSync(target, link);
    await expect(openExclusive(link)).rejects.toMatchObject({ code: 'EEXIST' });
    const plain = join(dir, 'plain.tmp');
    writeFileSync(plain, 'x');
    await expect(openExclusive(plain)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
  });

  it('a failed write removes its temp file and leaves the old state in place', async () => {
    const sub = mkdtempSync(join(dir, 'failing-'));
    const file = join(sub, 'state.json');
    await nodeSidecarFs.replaceStateFile(file, stateChunks(state));
    function* failing() {
      yield '{"version":1,';
      throw new Error('serialisation failed');
    }
    await expect(nodeSidecarFs.replaceStateFile(file, failing())).rejects.toThrow('serialisation failed');
    expect(readdirSync(sub)).toEqual(['state.json']);
    expect(JSON.parse(readFileSync(file, 'utf8')).jobs).toHaveLength(1);
  });
});

describe('readRegularFile (secrets and the config)', () => {
  it.each([
    ['a FIFO', () => {
      const f = join(dir, 'secret-fifo');
      execFileSync('mkfifo', [f]);
      return f;
    }, 'it is a FIFO, not a regular file'],
    ['/dev/zero', () => '/dev/zero', 'it is a character device, not a regular file'],
    ['a directory', () => dir, 'it is a directory, not a regular file'],
    ['a file over the bound', () => {
      const f = join(dir, 'big-secret');
      writeFileSync(f, 'x'.repeat(5000));
      return f;
    }, 'it holds 5000 bytes, over the 4096 allowed'],
  ])('%s is refused at once', (_what, path, message) => {
    expect(() => readRegularFile(path(), 4096)).toThrow(message);
  });

  it('a regular file is read whole, with its mode', () => {
    const f = join(dir, 'secret-ok');
    writeFileSync(f, 'tok\n', { mode: 0o640 });
    expect(readRegularFile(f, 4096)).toEqual({ text: 'tok\n', mode: expect.any(Number) });
    expect(readRegularFile(f, 4096).mode & 0o777).toBe(0o640);
  });
});

describe('stateChunks: the file is written in slices', () => {
  it('100 000 jobs are written in chunks of about 64 KiB, and read back whole', async () => {
    const jobs = Array.from({ length: 100_000 }, (_, i) => ({ pipeline: 'video', id: `job-${i}`, createdAt: NOW - 1000, startedAt: NOW - 500 }));
    const chunks = [...stateChunks({ ...state, jobs })];
    expect(chunks.length).toBeGreaterThan(50);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(64 * 1024 + 200);
    const back = await load(chunks.join(''));
    expect(back.jobs).toHaveLength(100_000);
    expect(back.jobs[99_999]).toEqual(jobs[99_999]);
  });
});

describe('loadState: a record at a time, each held to the rules of ingest', () => {
  const good = (i: number) => ({ pipeline: 'video', id: `j-${i}`, createdAt: NOW - 48 * 3600_000 });
  const file = (jobs: unknown[], extra = '') => `{"version":1,"savedAt":${NOW},"jobs":[${jobs.map((j) => (typeof j === 'string' ? j : JSON.stringify(j))).join(',')}],"finished":["video\\u0001j-0"],"webhookKeys":["w\\u0001raw-from-an-older-version"]${extra}}`;

  it('issue 19 item 1: a job with at 1e306 (written as null) drops alone; the other 100 jobs, finished keys and dedup keys come back', async () => {
    const jobs: unknown[] = Array.from({ length: 100 }, (_, i) => good(i + 1));
    jobs.push({ pipeline: 'video', id: 'j-inf', createdAt: NOW, startedAt: null });
    const r = await load(file(jobs));
    expect(r.jobs).toHaveLength(100);
    expect(r.finished).toEqual(['video\u0001j-0']);
    // A raw key an older pipemeter wrote becomes the digest a delivery with that identity has now.
    expect(r.webhookKeys).toEqual([dedupDigest('w\u0001raw-from-an-older-version')]);
    expect(r.summary.dropped.jobs).toEqual({ invalid_event: 1 });
    expect(describeDrops(r.summary)).toBe('dropped 1 of 101 job records (1 invalid_event)');
  });

  it.each([
    ['createdAt ten years ahead', { pipeline: 'p', id: 'j', createdAt: NOW + 10 * 365 * 86400_000 }, 'implausible_time'],
    ['createdAt 1e400 (Infinity)', '{"pipeline":"p","id":"j","createdAt":1e400}', 'implausible_time'],
    ['startedAt at 0', { pipeline: 'p', id: 'j', createdAt: NOW, startedAt: 0 }, 'implausible_time'],
    ['initiatedAt in milliseconds as seconds', { pipeline: 'p', id: 'j', createdAt: NOW, initiatedAt: NOW * 1000 }, 'implausible_time'],
    ['an empty pipeline name', { pipeline: '', id: 'j', createdAt: NOW }, 'invalid_event'],
    ['a pipeline name with a newline', { pipeline: 'a\nb', id: 'j', createdAt: NOW }, 'invalid_event'],
    ['a 100 kB pipeline name', { pipeline: 'p'.repeat(100_000), id: 'j', createdAt: NOW }, 'invalid_event'],
    ['a 1 kB pipeline name', { pipeline: 'p'.repeat(1000), id: 'j', createdAt: NOW }, 'invalid_event'],
    ['an id of 257 characters', { pipeline: 'p', id: 'x'.repeat(257), createdAt: NOW }, 'invalid_event'],
    ['an id with a lone surrogate', '{"pipeline":"p","id":"\\ud800","createdAt":1714564800000}', 'invalid_event'],
    ['a failed stage with spaces', { pipeline: 'p', id: 'j', createdAt: NOW, failedStage: 'a b' }, 'invalid_event'],
    ['createdAt as a string', { pipeline: 'p', id: 'j', createdAt: 'yesterday' }, 'invalid_event'],
    ['not an object', '[1,2]', 'invalid_event'],
    ['not JSON', '{"pipeline":"p",}', 'invalid_event'],
  ])('%s: dropped as %s, its neighbours kept', async (_what, bad, reason) => {
    const r = await load(file([good(1), bad, good(2)]));
    expect(r.jobs.map((j) => j.id)).toEqual(['j-1', 'j-2']);
    expect(r.summary.dropped.jobs).toEqual({ [reason]: 1 });
  });

  it('a restored record holds only the known fields: nothing else of the file reaches the table', () => {
    expect(jobRecord({ pipeline: 'p', id: 'j', createdAt: NOW, __proto__: { x: 1 }, extra: 'y', startedAt: NOW }, NOW)).toEqual({ pipeline: 'p', id: 'j', createdAt: NOW, startedAt: NOW });
  });

  it('a record over 64 KiB is dropped without being kept in memory or parsed', async () => {
    const r = await load(file([good(1), { pipeline: 'p', id: 'j', createdAt: NOW, pad: 'x'.repeat(MAX_RECORD_CHARS) }, good(2)]), 4096);
    expect(r.jobs.map((j) => j.id)).toEqual(['j-1', 'j-2']);
    expect(r.summary.dropped.jobs).toEqual({ invalid_event: 1 });
  });

  it('chunk boundaries anywhere give the same result (chunks of 1, 7 and 64 characters)', async () => {
    const text = file([good(1), { ...good(2), id: 'a "quoted" \\ id, with ] and }' }, good(3)], ',"future":{"a":[1,{"b":"]"}]}');
    const whole = await load(text);
    for (const size of [1, 7, 64]) expect(await load(text, size)).toEqual(whole);
    expect(whole.jobs.map((j) => j.id)).toEqual(['j-1', 'a "quoted" \\ id, with ] and }', 'j-3']);
  });

  it('a file that breaks off keeps the records before the break and says where, never what', async () => {
    const text = file([good(1), good(2), good(3)]);
    const cut = text.indexOf('j-3') - 5;
    const r = await load(text.slice(0, cut));
    expect(r.jobs.map((j) => j.id)).toEqual(['j-1', 'j-2']);
    expect(r.summary.brokenAt).toBeDefined();
    expect(describeDrops(r.summary)).toMatch(/^the file ends before the object does \(character \d+\)|^the file breaks off at character \d+/);
  });

  it.each([
    ['a password file', 'root:x:0:0:root:/root:/bin/bash\n', 'f: it does not start with "{" (character 0); it is not a pipemeter state file'],
    ['another JSON document', '{"name":"root:x:0:0","version":1}', 'f: not a pipemeter state file (it does not start with its version); point state.file at a file of its own'],
    ['another version', '{"version":"root:x:0:0"}', 'f: state version (not a number) is not 1'],
    ['an empty file', '', 'f: the file ends before the object does (character 0); it is not a pipemeter state file'],
  ])('issue 19 item 11: %s is refused whole, and the message never echoes its content', async (_what, text, message) => {
    const err = await load(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipemeterError);
    expect((err as Error).message).toBe(message);
    expect((err as Error).message).not.toContain('root:x');
  });

  it('describeDrops names counts and reasons only', () => {
    const s: StateSummary = { restored: { jobs: 3, finished: 0, webhookKeys: 1 }, dropped: { jobs: { implausible_time: 2, invalid_event: 1 }, finished: {}, webhookKeys: { invalid_event: 1 } } };
    expect(describeDrops(s)).toBe('dropped 3 of 6 job records (2 implausible_time, 1 invalid_event), 1 of 2 webhook dedup keys (1 invalid_event)');
  });
});

describe('a file a pipemeter before issue 19 wrote (one JSON.stringify) is read record by record', () => {
  it('its jobs, finished keys and raw dedup keys come back', async () => {
    const old = JSON.stringify({ version: 1, savedAt: NOW, jobs: [{ pipeline: 'crawl', id: 'c-1', createdAt: NOW, startedAt: NOW }], finished: ['crawl\u0001c-0'], webhookKeys: ['w\u0001abc', 'e\u0001crawl\u0001c-1\u0001crawl.started'] });
    const r = await load(old);
    expect(r.jobs).toEqual([{ pipeline: 'crawl', id: 'c-1', createdAt: NOW, startedAt: NOW }]);
    expect(r.webhookKeys).toEqual([dedupDigest('w\u0001abc'), dedupDigest('e\u0001crawl\u0001c-1\u0001crawl.started')]);
    expect(existsSync(dir)).toBe(true);
  });
});
