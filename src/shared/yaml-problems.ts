/**
 * The YAML problem reporter of every file pipemeter reads (the sidecar config, the deploy settings): each problem one
 * line, `file:line:col: path: what is wrong, how to fix`, all collected and thrown at once.
 */
import { type Document, type Node, LineCounter, type Scalar, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { PipemeterError } from './errors.js';

/** Collects problems with their position while a document is walked. */
export class Problems {
  readonly list: string[] = [];
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  add(node: Node | null | undefined, path: string, message: string): void {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    this.list.push(`${this.file}:${line}:${col}: ${path}: ${message}`);
  }

  /** throwIfAny throws every problem as one error: `file: N problems in the <what>:` then one line each. */
  throwIfAny(code: string, what: string): void {
    const n = this.list.length;
    if (n > 0) throw new PipemeterError(code, `${this.file}: ${n} problem${n === 1 ? '' : 's'} in the ${what}:\n${this.list.join('\n')}`);
  }
}

/** parseYaml parses one document (duplicate keys refused); its syntax errors are the first problems. */
export function parseYaml(text: string, file: string): { doc: Document; root: Node | null; problems: Problems } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems = new Problems(file, lineCounter);
  for (const e of doc.errors) {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    problems.list.push(`${file}:${line}:${col}: YAML syntax: ${e.message.split('\n')[0]}; fix the syntax at this position`);
  }
  return { doc, root: doc.contents as Node | null, problems };
}

/** isEmpty tells whether a node holds nothing: an absent value, `~` or an empty document. */
export function isEmpty(node: Node | null | undefined): node is null | undefined | Scalar<null> {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

/** describe names what a node holds, for "expected X, got Y". */
export function describe(node: Node): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'nothing' : JSON.stringify(node.value);
  return 'an alias';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** didYouMean names the closest known key, if one is close enough to be a typo. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}
