/** Reading files the project does not trust to be what they claim: config files, secrets, the state file. */
import * as nodeFs from 'node:fs';

const { O_RDONLY, O_NONBLOCK, O_NOCTTY } = nodeFs.constants;

/** kindOf names what a path is when it is not a regular file. */
export function kindOf(st: nodeFs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export class NotRegularFile extends Error {}

/**
 * readRegularFile reads a small file whole: a FIFO, a device or a directory is refused at once (O_NONBLOCK: opening a
 * FIFO with no writer returns instead of hanging, and fstat then refuses it), and so is a file over maxBytes.
 */
export function readRegularFile(path: string, maxBytes: number): { text: string; mode: number } {
  const fd = nodeFs.openSync(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  try {
    const st = nodeFs.fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFile(`it is ${kindOf(st)}, not a regular file`);
    if (st.size > maxBytes) throw new NotRegularFile(`it holds ${st.size} bytes, over the ${maxBytes} allowed`);
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (let r = 1; r > 0 && n <= maxBytes; n += r) r = nodeFs.readSync(fd, buf, n, buf.length - n, null);
    if (n > maxBytes) throw new NotRegularFile(`it holds over the ${maxBytes} bytes allowed`);
    return { text: buf.subarray(0, n).toString('utf8'), mode: st.mode };
  } finally {
    nodeFs.closeSync(fd);
  }
}
