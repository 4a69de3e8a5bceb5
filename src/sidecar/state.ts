/** The sidecar's state file: the in-flight job table and webhook dedup keys, written atomically and read back with one validator. */
import * as nodeFs from 'node:fs';
import { dirname } from 'node:path';
import { PipemeterError } from '../shared/errors.js';
import type { JobRecord } from './jobs.js';

/** The file system the sidecar touches: secrets (read once at creation) and the state file. */
export interface SidecarFs {
  readFileSync(path: string, encoding: 'utf8'): string;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, opts: { recursive: true }): Promise<unknown>;
}

export const nodeSidecarFs: SidecarFs = {
  readFileSync: (p, e) => nodeFs.readFileSync(p, e),
  readFile: (p, e) => nodeFs.promises.readFile(p, e),
  writeFile: (p, d) => nodeFs.promises.writeFile(p, d, { mode: 0o600 }),
  rename: (a, b) => nodeFs.promises.rename(a, b),
  mkdir: (p, o) => nodeFs.promises.mkdir(p, o),
};

export const STATE_VERSION = 1 as const;

export interface SidecarState {
  version: typeof STATE_VERSION;
  /** Unix ms of the write. */
  savedAt: number;
  jobs: JobRecord[];
  /** Recently finished job keys, so a repeated finish after a restart is still recognised. */
  finished: string[];
  webhookKeys: string[];
}

/** writeState writes the state next to its final path and renames it over: a reader never sees half a file. */
export async function writeState(fs: SidecarFs, file: string, state: SidecarState): Promise<void> {
  await fs.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state));
  await fs.rename(tmp, file);
}

const optNum = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v));
const optStr = (v: unknown) => v === undefined || typeof v === 'string';

function isJob(v: unknown): v is JobRecord {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.pipeline === 'string' &&
    typeof r.id === 'string' &&
    typeof r.createdAt === 'number' &&
    optNum(r.queuedAt) &&
    optNum(r.startedAt) &&
    optNum(r.initiatedAt) &&
    optStr(r.failedStage)
  );
}

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** parseState validates a state file's text; E_STATE says what is wrong with it. */
export function parseState(text: string, file: string): SidecarState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new PipemeterError('E_STATE', `${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  if (o.version !== STATE_VERSION) throw new PipemeterError('E_STATE', `${file}: state version ${JSON.stringify(o.version)} is not ${STATE_VERSION}`);
  if (!Array.isArray(o.jobs)) throw new PipemeterError('E_STATE', `${file}: "jobs" is not a list`);
  const bad = o.jobs.findIndex((j) => !isJob(j));
  if (bad >= 0) throw new PipemeterError('E_STATE', `${file}: jobs[${bad}] is not a job record {pipeline, id, createdAt, ...}`);
  if (!strings(o.finished) || !strings(o.webhookKeys)) throw new PipemeterError('E_STATE', `${file}: "finished" and "webhookKeys" must be lists of strings`);
  return { version: STATE_VERSION, savedAt: typeof o.savedAt === 'number' ? o.savedAt : 0, jobs: o.jobs as JobRecord[], finished: o.finished, webhookKeys: o.webhookKeys };
}

/** readState loads the state file: undefined when there is none yet; E_STATE when it cannot be used. */
export async function readState(fs: SidecarFs, file: string): Promise<SidecarState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PipemeterError('E_STATE', `${file}: cannot read (${(err as Error).message})`, { cause: err });
  }
  return parseState(text, file);
}
