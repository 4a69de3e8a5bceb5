import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipemeterError } from '../../src/shared/errors.js';
import { type SidecarState, nodeSidecarFs, parseState, readState, writeState } from '../../src/sidecar/state.js';

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const state: SidecarState = {
  version: 1,
  savedAt: 1714564800000,
  jobs: [{ pipeline: 'crawl', id: 'c-1', createdAt: 1, startedAt: 2, initiatedAt: 0 }],
  finished: ['crawl\u0001c-0'],
  webhookKeys: ['w\u0001abc'],
};

describe('state file on a real file system', () => {
  it('writeState creates the directory, writes a temp file and renames it: only the final file remains', async () => {
    const file = join(dir, 'nested', 'state.json');
    await writeState(nodeSidecarFs, file, state);
    expect(readdirSync(join(dir, 'nested'))).toEqual(['state.json']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(state);
    expect(await readState(nodeSidecarFs, file)).toEqual(state);
  });

  it('a write over an existing file replaces it whole', async () => {
    const file = join(dir, 'replace.json');
    writeFileSync(file, 'old contents that are not JSON');
    await writeState(nodeSidecarFs, file, { ...state, jobs: [] });
    expect((await readState(nodeSidecarFs, file))!.jobs).toEqual([]);
  });

  it('a missing file reads as undefined', async () => {
    expect(await readState(nodeSidecarFs, join(dir, 'none.json'))).toBeUndefined();
  });

  it('a directory in its place is E_STATE', async () => {
    await expect(readState(nodeSidecarFs, dir)).rejects.toThrow(PipemeterError);
  });
});

describe('parseState refuses what it cannot trust', () => {
  it.each([
    ['{', 'f: not JSON'],
    ['null', 'f: state version undefined is not 1'],
    ['{"version":1}', 'f: "jobs" is not a list'],
    ['{"version":1,"jobs":[{"pipeline":"p","id":"j","createdAt":"yesterday"}]}', 'f: jobs[0] is not a job record {pipeline, id, createdAt, ...}'],
    ['{"version":1,"jobs":[],"finished":[1],"webhookKeys":[]}', 'f: "finished" and "webhookKeys" must be lists of strings'],
  ])('%s', (text, message) => {
    expect(() => parseState(text, 'f')).toThrow(message);
  });
});
