/** ByteWriter: an append-only growable buffer, so rendering copies bytes instead of building a rope of strings. */

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    if (this.pos + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** text writes a string as UTF-8. */
  text(s: string): void {
    const max = s.length * 3;
    if (this.pos + max > this.buf.length) this.grow(max);
    this.pos += this.buf.write(s, this.pos);
  }

  byte(c: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
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
    if (this.pos + digits > this.buf.length) this.grow(digits);
    let at = this.pos + digits - 1;
    let x = n;
    do {
      this.buf[at--] = 48 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
    this.pos += digits;
  }

  /** result returns the bytes written (a view, valid until the next write). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
