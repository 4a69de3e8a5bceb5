/**
 * The sidecar's state file: the in-flight job table, the finished job keys and the webhook dedup keys. Written in
 * slices to a temporary file created exclusively beside it, then renamed over it; read back as a stream, record by
 * record, each record held to the rules events are held to at ingest.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { PipemeterError } from '../shared/errors.js';
import { NotRegularFile, kindOf, readRegularFile } from '../shared/files.js';
import { type RejectReason, isJobId, isName, isPlausibleMs } from './events.js';
import { dedupDigest, dedupKeyRe } from './firecrawl.js';
import type { JobRecord } from './jobs.js';

/** The files the sidecar touches: its secrets (read once at creation) and the state file. */
export interface SidecarFs {
  /**
   * readSecretFile reads a small secret file whole: a FIFO, a device or a directory is refused (never waited on), and so
   * is a file over maxBytes. Returns the text and the file's mode (to warn when others may read it).
   */
  readSecretFile(path: string, maxBytes: number): { text: string; mode: number };
  /** openStateFile streams the state file; undefined when there is none. Anything but a regular file is refused at once. */
  openStateFile(path: string): Promise<AsyncIterable<Buffer | string> | undefined>;
  /**
   * replaceStateFile writes the chunks to a new temporary file in the same directory, created exclusively (never through
   * a file or a symlink already there) and readable only by its owner, then renames it over `path`.
   */
  replaceStateFile(path: string, chunks: Iterable<string>): Promise<void>;
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = nodeFs.constants;


/**
 * openExclusive creates a new file for writing, mode 0600: O_EXCL fails on anything already at the path, O_NOFOLLOW on
 * a symlink, so a file or link planted there is never written through.
 */
export async function openExclusive(path: string): Promise<nodeFs.promises.FileHandle> {
  return nodeFs.promises.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
}

export const nodeSidecarFs: SidecarFs = {
  readSecretFile: readRegularFile,
  async openStateFile(path) {
    let fh: nodeFs.promises.FileHandle;
    try {
      fh = await nodeFs.promises.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const st = await fh.stat().catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    if (!st.isFile()) {
      await fh.close();
      throw new NotRegularFile(`it is ${kindOf(st)}, not a regular file`);
    }
    return fh.createReadStream({ highWaterMark: 64 * 1024 });
  },
  async replaceStateFile(path, chunks) {
    await nodeFs.promises.mkdir(dirname(path), { recursive: true });
    let tmp = '';
    let fh: nodeFs.promises.FileHandle | undefined;
    for (let attempt = 0; fh === undefined; attempt++) {
      // A random name in the same directory: nothing can be planted at it in advance, and the rename stays on one file system.
      tmp = `${path}.${randomBytes(8).toString('hex')}.tmp`;
      try {
        fh = await openExclusive(tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
    }
    try {
      // One await per chunk: the event loop runs between them, so a large table never holds it for long.
      for (const chunk of chunks) await fh.write(chunk);
      await fh.datasync();
      await fh.close();
      await nodeFs.promises.rename(tmp, path);
    } catch (err) {
      await fh.close().catch(() => {});
      await nodeFs.promises.unlink(tmp).catch(() => {});
      throw err;
    }
  },
};

export const STATE_VERSION = 1 as const;

/** What a snapshot holds. */
export interface SidecarState {
  /** Unix ms of the write. */
  savedAt: number;
  jobs: readonly JobRecord[];
  /** Recently finished job keys, so a repeated finish after a restart is still recognised. */
  finished: readonly string[];
  webhookKeys: readonly string[];
}

/** How many characters of JSON a snapshot writes per chunk. */
const CHUNK_CHARS = 64 * 1024;

/**
 * stateChunks writes a state as JSON, `{"version":1,"savedAt":...,"finished":[...],"webhookKeys":[...],"jobs":[...]}`,
 * in chunks of about 64 KiB, lazily: the writer takes one chunk per write, and the event loop runs in between.
 * Every record is bounded (names of 64 characters, ids of 256, dedup keys are 45-character digests), so a file holds
 * at most about 1.7 KiB per job, 1.6 KiB per finished key and 47 bytes per webhook key.
 */
export function* stateChunks(s: SidecarState): Generator<string> {
  let out = `{"version":${STATE_VERSION},"savedAt":${JSON.stringify(s.savedAt)}`;
  const lists: [string, readonly unknown[]][] = [
    ['finished', s.finished],
    ['webhookKeys', s.webhookKeys],
    ['jobs', s.jobs],
  ];
  for (const [name, items] of lists) {
    out += `,"${name}":[`;
    for (let i = 0; i < items.length; i++) {
      out += (i === 0 ? '' : ',') + JSON.stringify(items[i]);
      if (out.length >= CHUNK_CHARS) {
        yield out;
        out = '';
      }
    }
    out += ']';
  }
  yield out + '}';
}

/** The largest record (one JSON value of a list) a state file may hold; larger ones are dropped, never parsed. */
export const MAX_RECORD_CHARS = 64 * 1024;

/** Where restored records go, each already validated. */
export interface StateSink {
  job(rec: JobRecord): void;
  finished(key: string): void;
  webhookKey(key: string): void;
}

type Kind = 'jobs' | 'finished' | 'webhookKeys';

/** What a load restored and dropped, per list; dropped records by reason. */
export interface StateSummary {
  restored: Record<Kind, number>;
  dropped: Record<Kind, Partial<Record<RejectReason, number>>>;
  /** Set when the file ends early or breaks off: the records before that point were restored. */
  brokenAt?: number;
}

/** The instants of a restored job: createdAt always, the others when the job had them. */
const JOB_TIMES = ['createdAt', 'queuedAt', 'startedAt', 'initiatedAt'] as const;

/** jobRecord validates one restored job, as ingest validates the event that made it; a reason when it is refused. */
export function jobRecord(v: unknown, now: number): JobRecord | RejectReason {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'invalid_event';
  const r = v as Record<string, unknown>;
  if (!isName(r.pipeline) || !isJobId(r.id) || (r.failedStage !== undefined && !isName(r.failedStage))) return 'invalid_event';
  if (r.createdAt === undefined) return 'invalid_event';
  // Every type first, then every range (by the rules of ingest): a record with both faults is invalid_event.
  for (const k of JOB_TIMES) if (r[k] !== undefined && typeof r[k] !== 'number') return 'invalid_event';
  for (const k of JOB_TIMES) if (r[k] !== undefined && !isPlausibleMs(r[k] as number, now)) return 'implausible_time';
  // A fresh object of the known fields only: nothing else of the file reaches the table.
  const rec = { pipeline: r.pipeline, id: r.id } as JobRecord;
  for (const k of JOB_TIMES) if (r[k] !== undefined) rec[k] = r[k] as number;
  if (r.failedStage !== undefined) rec.failedStage = r.failedStage as string;
  return rec;
}

/** finishedKey validates a restored finished key: `<pipeline>\u0001<job id>`, each by the rules of ingest. */
export function finishedKey(v: unknown): string | RejectReason {
  if (typeof v !== 'string') return 'invalid_event';
  const i = v.indexOf('\u0001');
  return i > 0 && isName(v.slice(0, i)) && isJobId(v.slice(i + 1)) ? v : 'invalid_event';
}

/** webhookKey validates a restored dedup key: a digest as is; a raw key an older pipemeter wrote becomes its digest. */
export function webhookKey(v: unknown): string | RejectReason {
  if (typeof v !== 'string' || v === '') return 'invalid_event';
  return dedupKeyRe.test(v) ? v : dedupDigest(v);
}

/**
 * loadState reads a state file as a stream and hands each valid record to the sink: a bad record is dropped alone and
 * counted in the summary, never the whole file; a file that breaks off keeps what came before the break. Only a file
 * that is not a pipemeter state file at all (another first byte, another version) is refused whole, with E_STATE.
 * Messages never hold the file's content: it may be any file the path points at.
 */
export async function loadState(chunks: AsyncIterable<Buffer | string>, file: string, now: number, sink: StateSink, signal?: AbortSignal): Promise<StateSummary> {
  const summary: StateSummary = {
    restored: { jobs: 0, finished: 0, webhookKeys: 0 },
    dropped: { jobs: {}, finished: {}, webhookKeys: {} },
  };
  const drop = (kind: Kind, reason: RejectReason) => (summary.dropped[kind][reason] = (summary.dropped[kind][reason] ?? 0) + 1);
  let members = 0;
  const reader = new TopLevelReader(MAX_RECORD_CHARS, (key, text, element) => {
    members++;
    if (members === 1) {
      if (key !== 'version' || element) throw new PipemeterError('E_STATE', `${file}: not a pipemeter state file (it does not start with its version); point state.file at a file of its own`);
      const v = text === undefined ? undefined : safeParse(text);
      if (v !== STATE_VERSION) throw new PipemeterError('E_STATE', `${file}: state version ${typeof v === 'number' ? v : '(not a number)'} is not ${STATE_VERSION}`);
      return;
    }
    if (!element || (key !== 'jobs' && key !== 'finished' && key !== 'webhookKeys')) return;
    if (text === undefined) return drop(key, 'invalid_event');
    const v = safeParse(text);
    if (key === 'jobs') {
      const rec = jobRecord(v, now);
      if (typeof rec === 'string') return drop(key, rec);
      sink.job(rec);
    } else {
      const k = key === 'finished' ? finishedKey(v) : webhookKey(v);
      if (k === 'invalid_event') return drop(key, k);
      if (key === 'finished') sink.finished(k);
      else sink.webhookKey(k);
    }
    summary.restored[key]++;
  });
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of chunks) {
      if (signal?.aborted) break;
      reader.feed(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    }
    reader.end();
  } catch (err) {
    if (!(err instanceof BrokenJson)) throw err;
    if (members === 0) throw new PipemeterError('E_STATE', `${file}: ${err.message}; it is not a pipemeter state file`);
    summary.brokenAt = err.at;
  }
  return summary;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** describeDrops says what a load dropped, in one line, by count and reason: never the records themselves. */
export function describeDrops(s: StateSummary): string | undefined {
  const what: Record<Kind, string> = { jobs: 'job records', finished: 'finished job keys', webhookKeys: 'webhook dedup keys' };
  const parts: string[] = [];
  for (const kind of ['jobs', 'finished', 'webhookKeys'] as const) {
    const reasons = Object.entries(s.dropped[kind]);
    if (reasons.length === 0) continue;
    const n = reasons.reduce((a, [, c]) => a + (c ?? 0), 0);
    parts.push(`${n} of ${n + s.restored[kind]} ${what[kind]} (${reasons.map(([r, c]) => `${c} ${r}`).join(', ')})`);
  }
  const broken = s.brokenAt === undefined ? '' : `the file breaks off at character ${s.brokenAt}, so nothing after it was read; `;
  if (parts.length === 0 && broken === '') return undefined;
  return `${broken}${parts.length > 0 ? `dropped ${parts.join(', ')}` : 'no record was dropped before it'}`;
}

class BrokenJson extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

const enum C {
  Quote = 34,
  Backslash = 92,
  Comma = 44,
  Colon = 58,
  LBrace = 123,
  RBrace = 125,
  LBracket = 91,
  RBracket = 93,
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * TopLevelReader reads a JSON object as it streams in and reports its members: a scalar or object member whole, an
 * array member element by element (`element` true), each as its JSON text; a value over `maxChars` is reported as
 * undefined, its text never kept. It holds at most one value's text, whatever the size of the file.
 */
class TopLevelReader {
  private state: 'begin' | 'key' | 'inKey' | 'colon' | 'value' | 'afterValue' | 'element' | 'afterElement' | 'capture' | 'end' = 'begin';
  private key = '';
  private keyEscaped = false;
  /** Capture of one value: its text so far, whether it outgrew the bound, its nesting depth, and string state. */
  private text = '';
  private over = false;
  private depth = 0;
  private inString = false;
  private escape = false;
  private inArray = false;
  /** Characters read before the current chunk: positions in messages. */
  private offset = 0;

  constructor(
    private readonly maxChars: number,
    private readonly onMember: (key: string, text: string | undefined, element: boolean) => void,
  ) {}

  feed(chunk: string): void {
    let capStart = this.state === 'capture' ? 0 : -1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (this.state === 'capture') {
        // The hot loop: scan the value with locals, to its end or the end of the chunk.
        let depth = this.depth;
        let inString = this.inString;
        let escape = this.escape;
        let end = -1;
        let keepEnd = false;
        for (; i < n; i++) {
          const c = chunk.charCodeAt(i);
          if (inString) {
            if (escape) escape = false;
            else if (c === C.Backslash) escape = true;
            else if (c === C.Quote) {
              inString = false;
              if (depth === 0) {
                end = i + 1;
                keepEnd = true;
                break;
              }
            }
          } else if (c === C.Quote) inString = true;
          else if (c === C.LBrace || c === C.LBracket) depth++;
          else if (c === C.RBrace || c === C.RBracket) {
            if (depth === 0) {
              // A scalar ends where its container does: the bracket belongs to the container.
              end = i;
              break;
            }
            if (--depth === 0) {
              end = i + 1;
              keepEnd = true;
              break;
            }
          } else if (depth === 0 && (c === C.Comma || isSpace(c))) {
            end = i;
            break;
          }
        }
        this.depth = depth;
        this.inString = inString;
        this.escape = escape;
        if (end < 0) break;
        this.keep(chunk, capStart, end);
        this.emit();
        // The character that ended a scalar is read again in the state after it.
        if (!keepEnd) i--;
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (this.state === 'inKey') {
        if (this.keyEscaped) this.keyEscaped = false;
        else if (c === C.Backslash) this.keyEscaped = true;
        else if (c === C.Quote) {
          this.state = 'colon';
          try {
            this.key = JSON.parse(`"${this.key}"`) as string;
          } catch {
            this.key = '';
          }
          continue;
        }
        if (this.key.length > 64) throw this.broken('a member name over 64 characters', i);
        this.key += chunk[i];
        continue;
      }
      if (isSpace(c)) continue;
      switch (this.state) {
        case 'begin':
          if (c !== C.LBrace) throw this.broken('it does not start with "{"', i);
          this.state = 'key';
          break;
        case 'key':
          if (c === C.RBrace) this.state = 'end';
          else if (c === C.Quote) {
            this.key = '';
            this.state = 'inKey';
          } else throw this.broken('a member name was expected', i);
          break;
        case 'colon':
          if (c !== C.Colon) throw this.broken('":" was expected', i);
          this.state = 'value';
          break;
        case 'value':
          if (c === C.LBracket) {
            this.inArray = true;
            this.state = 'element';
          } else {
            this.inArray = false;
            capStart = this.startCapture(c, i);
          }
          break;
        case 'element':
          if (c === C.RBracket) this.state = 'afterValue';
          else capStart = this.startCapture(c, i);
          break;
        case 'afterElement':
          if (c === C.Comma) this.state = 'element';
          else if (c === C.RBracket) this.state = 'afterValue';
          else throw this.broken('"," or "]" was expected', i);
          break;
        case 'afterValue':
          if (c === C.Comma) this.state = 'key';
          else if (c === C.RBrace) this.state = 'end';
          else throw this.broken('"," or "}" was expected', i);
          break;
        case 'end':
          throw this.broken('there is more after the end of the object', i);
      }
    }
    if (this.state === 'capture' && capStart >= 0) this.keep(chunk, capStart, n);
    this.offset += n;
  }

  end(): void {
    if (this.state === 'capture' && this.depth === 0 && !this.inString) this.emit();
    if (this.state !== 'end') throw this.broken('the file ends before the object does', 0);
  }

  /** startCapture begins a value at its first character, which it has read: the scan goes on from the next one. */
  private startCapture(c: number, i: number): number {
    this.state = 'capture';
    this.text = '';
    this.over = false;
    this.depth = c === C.LBrace || c === C.LBracket ? 1 : 0;
    this.inString = c === C.Quote;
    this.escape = false;
    return i;
  }

  private keep(chunk: string, from: number, to: number): void {
    if (this.over || from < 0) return;
    if (this.text.length + (to - from) > this.maxChars) {
      this.over = true;
      this.text = '';
    } else this.text += chunk.slice(from, to);
  }

  private emit(): void {
    const element = this.inArray;
    this.state = element ? 'afterElement' : 'afterValue';
    const text = this.over ? undefined : this.text;
    this.text = '';
    this.onMember(this.key, text, element);
  }

  private broken(what: string, i: number): BrokenJson {
    return new BrokenJson(`${what} (character ${this.offset + i})`, this.offset + i);
  }
}
