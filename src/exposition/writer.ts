/**
 * ByteWriter: an append-only list of byte chunks, so rendering copies bytes instead of building a
 * rope of strings, and a large render never copies what it already wrote (no doubling and copying).
 */

const CHUNK = 256 * 1024;
const EMPTY = Buffer.alloc(0);

/** escapeLabelValue escapes a label value for both formats: backslash, double quote, newline. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/**
 * ChunkPool keeps the chunks of the last finished scrape for the next one: a scrape of 100k histogram
 * series writes ~90 MiB, and allocating even part of that afresh every time made the collector pause
 * the event loop (external memory pressure starts a full GC). It holds as many chunks as the last
 * scrape it was given back used, never more than `maxBytes`, so it shrinks when scrapes shrink.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly maxBytes: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(CHUNK);
  }

  /** give returns a scrape's chunks once nothing reads them any more (the response has finished). */
  give(chunks: readonly Buffer[]): void {
    const keep = Math.min(Math.floor(this.maxBytes / CHUNK), chunks.length);
    if (this.free.length > keep) this.free.length = keep;
    for (const c of chunks) {
      // Only whole pool-sized chunks come back: an oversized one (a huge single string) is left to GC.
      if (c.buffer.byteLength !== CHUNK || c.byteOffset !== 0 || this.free.length >= keep) continue;
      this.free.push(Buffer.from(c.buffer, 0, CHUNK));
    }
  }

  /** The bytes held for the next scrape. */
  get bytes(): number {
    return this.free.length * CHUNK;
  }
}

export class ByteWriter {
  private readonly done: Buffer[] = [];
  private buf: Buffer;
  private pos = 0;
  private total = 0;

  constructor(private readonly pool?: ChunkPool) {
    this.buf = pool?.take() ?? Buffer.allocUnsafe(CHUNK);
  }

  /** room makes sure `need` bytes fit in the current chunk, starting a new one when they do not. */
  private room(need: number): void {
    if (this.pos + need <= this.buf.length) return;
    this.done.push(this.buf.subarray(0, this.pos));
    this.total += this.pos;
    this.buf = need <= CHUNK && this.pool !== undefined ? this.pool.take() : Buffer.allocUnsafe(Math.max(CHUNK, need));
    this.pos = 0;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * text writes a string as UTF-8. Short ASCII strings (names, label values, numbers) are copied
   * here: a native call per piece costs more than the copy, and a render writes millions of pieces.
   */
  text(s: string): void {
    const n = s.length;
    this.room(n * 3);
    if (n <= 24) {
      const buf = this.buf;
      let pos = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        buf[pos++] = c;
      }
      this.pos = pos;
      if (i === n) return;
      this.pos += buf.write(s.slice(i), pos);
      return;
    }
    this.pos += this.buf.write(s, this.pos);
  }

  /**
   * labelValue writes a label value escaped for both formats (backslash, double quote, newline),
   * in one pass and without allocating unless it meets a non-ASCII character.
   */
  labelValue(v: string): void {
    const n = v.length;
    this.room(n * 2);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 128) {
        this.pos = pos;
        this.text(escapeLabelValue(v.slice(i)));
        return;
      }
      if (c === 92 || c === 34) {
        buf[pos++] = 92;
        buf[pos++] = c;
      } else if (c === 10) {
        buf[pos++] = 92;
        buf[pos++] = 110;
      } else buf[pos++] = c;
    }
    this.pos = pos;
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }

  /** count writes a non-negative integer (a bucket or observation count) digit by digit; other numbers as text. */
  count(n: number): void {
    if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && n === Math.floor(n))) {
      this.text(formatNumber(n));
      return;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    this.room(digits);
    let at = this.pos + digits - 1;
    let x = n;
    do {
      this.buf[at--] = 48 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
    this.pos += digits;
  }

  /**
   * repeat writes again the `n` bytes written at position `from` (counted from the start, as `length`
   * counts): a line head written for the previous line, say. It copies within the current chunk without
   * allocating; only a copy whose source or target crosses into another chunk goes through a buffer.
   * It returns where the copy starts: the position to repeat from next.
   */
  repeat(from: number, n: number): number {
    const start = from - this.total;
    if (start >= 0 && this.pos + n <= this.buf.length) {
      this.buf.copyWithin(this.pos, start, start + n);
      this.pos += n;
      return this.total + this.pos - n;
    }
    const bytes = this.slice(from, n);
    this.room(n);
    this.buf.set(bytes, this.pos);
    this.pos += n;
    return this.total + this.pos - n;
  }

  /** slice copies out the `n` bytes written at position `from`, wherever their chunks are. */
  private slice(from: number, n: number): Buffer {
    const chunks = this.chunks();
    let i = chunks.length - 1;
    let chunkStart = this.total;
    while (chunkStart > from) chunkStart -= chunks[--i]!.length;
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    for (let at = from - chunkStart; copied < n; i++, at = 0) {
      copied += chunks[i]!.copy(out, copied, at, Math.min(chunks[i]!.length, at + n - copied));
    }
    return out;
  }

  /**
   * gap leaves a place in the output for bytes known only once what follows is written (a protobuf length prefix):
   * the chunk so far is closed there, writing goes on in the rest of it, and fill() puts the bytes in. Positions
   * (`length`, repeat) count a gap's bytes only once it is filled: do not repeat across one.
   */
  gap(): number {
    if (this.pos > 0) {
      this.done.push(this.buf.subarray(0, this.pos));
      this.total += this.pos;
      // The rest of the chunk: a piece that does not start at 0 never goes back to the pool (its first piece does).
      this.buf = this.buf.subarray(this.pos);
      this.pos = 0;
    }
    this.done.push(EMPTY);
    return this.done.length - 1;
  }

  /** fill writes the bytes of a gap. */
  fill(at: number, bytes: Buffer): void {
    this.done[at] = bytes;
    this.total += bytes.length;
  }

  get length(): number {
    return this.total + this.pos;
  }

  /** chunks returns what was written as a list of buffers, without copying: what a response streams. */
  chunks(): Buffer[] {
    return this.pos === 0 ? [...this.done] : [...this.done, this.buf.subarray(0, this.pos)];
  }

  /** result returns what was written as one buffer (one copy). */
  result(): Buffer {
    const c = this.chunks();
    return c.length === 1 ? c[0]! : Buffer.concat(c, this.length);
  }
}

/** formatNumber writes a sample value as both formats read it: infinities as +Inf and -Inf, not JavaScript's "Infinity". */
export function formatNumber(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return '' + v;
}
