/**
 * ByteWriter: an append-only list of byte chunks, so rendering copies bytes instead of building a
 * rope of strings, and a large render never copies what it already wrote (no doubling and copying).
 */

const CHUNK = 256 * 1024;

export class ByteWriter {
  private readonly done: Buffer[] = [];
  private buf: Buffer;
  private pos = 0;
  private total = 0;

  constructor() {
    this.buf = Buffer.allocUnsafe(CHUNK);
  }

  /** room makes sure `need` bytes fit in the current chunk, starting a new one when they do not. */
  private room(need: number): void {
    if (this.pos + need <= this.buf.length) return;
    this.done.push(this.buf.subarray(0, this.pos));
    this.total += this.pos;
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK, need));
    this.pos = 0;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** text writes a string as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += this.buf.write(s, this.pos);
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }

  /** count writes a non-negative integer (a bucket or observation count) digit by digit; other numbers as text. */
  count(n: number): void {
    if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && n === Math.floor(n))) {
      this.text('' + n);
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
