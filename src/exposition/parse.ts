/** A strict parser for Prometheus text 0.0.4 and OpenMetrics 1.0: families, samples, and every problem with its line. */
import type { Format } from './render.js';

export type FamilyType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'summary'
  | 'untyped'
  | 'unknown'
  | 'gaugehistogram'
  | 'stateset'
  | 'info';

export interface ParsedExemplar {
  labels: Record<string, string>;
  value: number;
  /** Unix seconds, when given. */
  timestamp?: number;
}

export interface ParsedSample {
  /** The sample's metric name as written, e.g. `x_bucket` of histogram family `x`. */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Unix milliseconds, when given (text writes milliseconds, OpenMetrics seconds; both are read into ms). */
  timestampMs?: number;
  exemplar?: ParsedExemplar;
  line: number;
}

export interface ParsedFamily {
  /** The family name as declared (OpenMetrics: without a counter's `_total`). */
  name: string;
  type: FamilyType;
  /** Whether a TYPE line declared the type (else untyped in text, unknown in OpenMetrics). */
  typed: boolean;
  help?: string;
  unit?: string;
  /** The first line of the family (metadata or sample). */
  line: number;
  samples: ParsedSample[];
}

export type ProblemSeverity = 'error' | 'warning';

export interface ParseProblem {
  line: number;
  severity: ProblemSeverity;
  /** Stable kebab-case code, e.g. `duplicate-series`, `histogram-not-cumulative`. */
  code: string;
  family?: string;
  message: string;
}

export interface ParsedExposition {
  format: Format;
  families: ParsedFamily[];
  problems: ParseProblem[];
}

export interface ParseOptions {
  /** Stop recording problems past this many (a broken body would repeat one problem per line); default 200. */
  maxProblems?: number;
}

const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const decimalRe = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const infRe = /^[+-]?(?:inf|infinity)$/i;
/** OpenMetrics caps an exemplar's label set at 128 UTF-8 characters (names and values together). */
const EXEMPLAR_MAX_CHARS = 128;

const textTypes = new Set<FamilyType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const omTypes = new Set<FamilyType>(['counter', 'gauge', 'histogram', 'summary', 'unknown', 'gaugehistogram', 'stateset', 'info']);

/** Sample-name suffixes each family type owns, per format (text 0.0.4 counters carry `_total` in the family name). */
const suffixes: Record<Format, Partial<Record<FamilyType, readonly string[]>>> = {
  text: {
    counter: [''],
    gauge: [''],
    untyped: [''],
    histogram: ['_bucket', '_sum', '_count'],
    summary: ['', '_sum', '_count'],
  },
  openmetrics: {
    counter: ['_total', '_created'],
    gauge: [''],
    unknown: [''],
    stateset: [''],
    info: ['_info'],
    histogram: ['_bucket', '_count', '_sum', '_created'],
    gaugehistogram: ['_gbucket', '_gcount', '_gsum'],
    summary: ['', '_count', '_sum', '_created'],
  },
};
const omSuffixes = ['_total', '_created', '_bucket', '_count', '_sum', '_info', '_gbucket', '_gcount', '_gsum'];

/** parseNumber reads a sample value as Go's ParseFloat does for both formats (no hex, no underscores); NaN when invalid. */
export function parseNumber(s: string): number | undefined {
  if (decimalRe.test(s)) return Number(s);
  if (infRe.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  return undefined;
}

/** formatOf maps a response Content-Type to the format Prometheus would parse it as (text when unknown). */
export function formatOf(contentType: string | undefined): Format {
  return /^\s*application\/openmetrics-text\b/i.test(contentType ?? '') ? 'openmetrics' : 'text';
}

/** seriesKey identifies one series: the sample name and its labels in name order. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  let k = name;
  for (const l of keys) k += '\u0000' + l + '\u0001' + labels[l];
  return k;
}

class ParseFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A cursor over one line; `om` makes whitespace strict (single spaces, none around labels). */
class LineReader {
  pos = 0;
  constructor(
    readonly s: string,
    readonly om: boolean,
  ) {}

  get done(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  fail(code: string, what: string): never {
    throw new ParseFailure(code, `column ${this.pos + 1}: ${what}`);
  }

  /** blanks skips spaces and tabs (text) and returns how many; OpenMetrics callers check for exactly one. */
  blanks(): number {
    const start = this.pos;
    while (this.pos < this.s.length && (this.s[this.pos] === ' ' || (!this.om && this.s[this.pos] === '\t'))) this.pos++;
    return this.pos - start;
  }

  /** separator requires the token separator: one space in OpenMetrics, one or more blanks in text. */
  separator(what: string): void {
    const n = this.blanks();
    if (n === 0) this.fail('syntax', `expected a space before ${what}`);
    if (this.om && n > 1) this.fail('syntax', `OpenMetrics separates tokens with exactly one space; found ${n} before ${what}`);
  }

  /** optionalBlanks allows blanks in text and none in OpenMetrics. */
  optionalBlanks(): void {
    if (this.om) return;
    this.blanks();
  }

  name(re: RegExp, what: string): string {
    const start = this.pos;
    while (this.pos < this.s.length && /[a-zA-Z0-9_:]/.test(this.s[this.pos]!)) this.pos++;
    const n = this.s.slice(start, this.pos);
    if (n === '') this.fail('syntax', `expected a ${what}, found ${quoteChar(this.peek())}`);
    if (!re.test(n)) {
      this.pos = start;
      this.fail('invalid-name', `"${n}" is not a valid ${what}; use letters, digits and underscores, not starting with a digit`);
    }
    return n;
  }

  /** token reads up to the next blank (or the end). */
  token(): string {
    const start = this.pos;
    while (this.pos < this.s.length && this.s[this.pos] !== ' ' && this.s[this.pos] !== '\t') this.pos++;
    return this.s.slice(start, this.pos);
  }

  labels(): Record<string, string> {
    const labels: Record<string, string> = {};
    this.pos++; // '{'
    this.optionalBlanks();
    while (this.peek() !== '}') {
      if (this.done) this.fail('syntax', 'label set is not closed with "}"');
      const name = this.name(labelNameRe, 'label name');
      if (Object.hasOwn(labels, name)) this.fail('duplicate-label', `label "${name}" appears twice in one label set`);
      this.optionalBlanks();
      if (this.peek() !== '=') this.fail('syntax', `expected "=" after label name "${name}", found ${quoteChar(this.peek())}`);
      this.pos++;
      this.optionalBlanks();
      if (this.peek() !== '"') this.fail('syntax', `label value of "${name}" must be in double quotes, found ${quoteChar(this.peek())}`);
      labels[name] = this.quoted();
      this.optionalBlanks();
      if (this.peek() === ',') {
        this.pos++;
        this.optionalBlanks();
      } else if (this.peek() !== '}') {
        this.fail('syntax', `expected "," or "}" after the value of label "${name}", found ${quoteChar(this.peek())}`);
      }
    }
    this.pos++; // '}'
    return labels;
  }

  /** quoted reads a double-quoted label value with the escapes both formats allow: \\ \" \n. */
  quoted(): string {
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      if (this.done) this.fail('syntax', 'label value is not closed with \'"\'');
      const c = this.s[this.pos++]!;
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.pos++];
      if (e === '\\') out += '\\';
      else if (e === '"') out += '"';
      else if (e === 'n') out += '\n';
      else {
        this.pos--;
        this.fail('invalid-escape', `invalid escape sequence "\\${e ?? ''}" in a label value; only \\\\, \\" and \\n are allowed`);
      }
    }
  }
}

function quoteChar(c: string): string {
  return c === '' ? 'the end of the line' : `"${c}"`;
}

function unescapeHelp(s: string, om: boolean): string {
  return s.replace(/\\(.?)/g, (_m, e: string) => {
    if (e === '\\') return '\\';
    if (e === 'n') return '\n';
    if (om && e === '"') return '"';
    throw new ParseFailure('invalid-escape', `invalid escape sequence "\\${e}" in HELP; only \\\\ and \\n${om ? ' and \\"' : ''} are allowed`);
  });
}

interface FamilyState {
  family: ParsedFamily;
  /** Whether samples were seen, and whether the family's group of lines has ended (another family started). */
  sampled: boolean;
  closed: boolean;
  seen: Set<'TYPE' | 'HELP' | 'UNIT'>;
}

/** parseExposition parses one scrape body; it never throws and reports every problem it finds with its line. */
export function parseExposition(body: string, format: Format = 'text', opts: ParseOptions = {}): ParsedExposition {
  return new Parser(body, format, opts.maxProblems ?? 200).run();
}

class Parser {
  private readonly om: boolean;
  private readonly families: ParsedFamily[] = [];
  private readonly byName = new Map<string, FamilyState>();
  private readonly problems: ParseProblem[] = [];
  private readonly series = new Map<string, number>();
  private current: FamilyState | undefined;
  private lineNo = 0;
  private dropped = 0;

  constructor(
    private readonly body: string,
    private readonly format: Format,
    private readonly maxProblems: number,
  ) {
    this.om = format === 'openmetrics';
  }

  run(): ParsedExposition {
    const lines = this.body.split('\n');
    const endsWithNewline = this.body.endsWith('\n');
    if (endsWithNewline) lines.pop();
    let eofLine = 0;
    for (let i = 0; i < lines.length; i++) {
      this.lineNo = i + 1;
      const line = lines[i]!;
      if (eofLine > 0) {
        this.problem('error', 'eof', `content after "# EOF" (line ${eofLine}); "# EOF" must be the last line`);
        break;
      }
      // A CR inside a label value or HELP is text (Prometheus's lexers take it); only a CR LF line end is wrong.
      if (line.endsWith('\r')) {
        this.problem('error', 'syntax', 'line ends with a carriage return; lines end with "\\n" only');
        continue;
      }
      if (this.om && line === '# EOF') {
        eofLine = this.lineNo;
        continue;
      }
      try {
        this.line(line);
      } catch (err) {
        if (!(err instanceof ParseFailure)) throw err;
        this.problem('error', err.code, err.message);
      }
    }
    if (this.om && eofLine === 0) {
      this.lineNo = lines.length;
      this.problem('error', 'eof', 'OpenMetrics exposition does not end with "# EOF"; add it as the last line');
    } else if (!this.om && this.body !== '' && !endsWithNewline) {
      this.lineNo = lines.length;
      this.problem('error', 'syntax', 'the last line does not end with a newline');
    }
    for (const state of this.byName.values()) this.checkFamily(state.family);
    if (this.dropped > 0) {
      this.problems.push({ line: this.lineNo, severity: 'error', code: 'too-many-problems', message: `${this.dropped} more problems not listed; fix the ones above first` });
    }
    return { format: this.format, families: this.families, problems: this.problems };
  }

  private problem(severity: ProblemSeverity, code: string, message: string, family?: string, line = this.lineNo): void {
    if (this.problems.length >= this.maxProblems) {
      this.dropped++;
      return;
    }
    this.problems.push(family === undefined ? { line, severity, code, message } : { line, severity, code, family, message });
  }

  private line(line: string): void {
    if (line.trim() === '') {
      if (this.om) throw new ParseFailure('syntax', 'empty line; OpenMetrics allows none');
      return;
    }
    const r = new LineReader(line, this.om);
    if (!this.om) r.blanks();
    if (r.peek() === '#') {
      this.comment(line.slice(r.pos));
      return;
    }
    this.sample(r);
  }

  private comment(line: string): void {
    const m = /^#[ \t]+(HELP|TYPE|UNIT)(?:[ \t]+|$)(.*)$/.exec(line);
    const keyword = m?.[1] as 'HELP' | 'TYPE' | 'UNIT' | undefined;
    if (m === null || keyword === undefined || (keyword === 'UNIT' && !this.om)) {
      if (this.om) throw new ParseFailure('syntax', `"${line.slice(0, 40)}" is not a metadata line; OpenMetrics allows only "# TYPE", "# HELP", "# UNIT" and "# EOF"`);
      return; // a comment in text 0.0.4
    }
    if (this.om && !line.startsWith(`# ${keyword} `)) throw new ParseFailure('syntax', `write "# ${keyword} <name> ..." with single spaces`);
    const rest = m[2]!;
    const sp = this.om ? rest.indexOf(' ') : rest.search(/[ \t]/);
    const name = sp < 0 ? rest : rest.slice(0, sp);
    let arg = sp < 0 ? '' : this.om ? rest.slice(sp + 1) : rest.slice(sp).replace(/^[ \t]+/, '');
    if (!metricNameRe.test(name)) throw new ParseFailure('invalid-name', `# ${keyword}: "${name}" is not a valid metric name`);
    const state = this.familyForMetadata(name, keyword);
    const f = state.family;
    switch (keyword) {
      case 'HELP':
        f.help = unescapeHelp(arg, this.om);
        break;
      case 'TYPE': {
        arg = arg.trim();
        const types = this.om ? omTypes : textTypes;
        if (!types.has(arg as FamilyType)) {
          throw new ParseFailure('unknown-type', `# TYPE ${name}: unknown type "${arg}"; use one of ${[...types].join(', ')}`);
        }
        f.type = arg as FamilyType;
        f.typed = true;
        break;
      }
      case 'UNIT':
        if (arg !== '' && !name.endsWith('_' + arg)) {
          this.problem('error', 'unit', `# UNIT ${name} ${arg}: a family with a unit must be named with it as suffix, e.g. "${name}_${arg}"`, name);
        }
        if (arg !== '') f.unit = arg;
        break;
    }
  }

  private familyForMetadata(name: string, keyword: 'HELP' | 'TYPE' | 'UNIT'): FamilyState {
    let state = this.byName.get(name);
    if (state === undefined) {
      state = this.newFamily(name);
    } else {
      if (state.seen.has(keyword)) throw new ParseFailure('duplicate-metadata', `second # ${keyword} line for "${name}"; keep one`);
      if (state.closed) {
        throw new ParseFailure('interleaved-family', `# ${keyword} for "${name}", whose family started on line ${state.family.line} and was followed by another; keep each family's lines together`);
      }
      // Text 0.0.4 tolerates HELP after samples; a TYPE (or any OpenMetrics metadata) there changes what earlier samples meant.
      if (state.sampled && (keyword === 'TYPE' || this.om)) {
        throw new ParseFailure('metadata-after-samples', `# ${keyword} for "${name}" comes after its samples; move it above the first sample`);
      }
    }
    state.seen.add(keyword);
    this.enter(state);
    return state;
  }

  private newFamily(name: string): FamilyState {
    const family: ParsedFamily = { name, type: this.om ? 'unknown' : 'untyped', typed: false, line: this.lineNo, samples: [] };
    this.families.push(family);
    const state: FamilyState = { family, sampled: false, closed: false, seen: new Set() };
    this.byName.set(name, state);
    return state;
  }

  private enter(state: FamilyState): void {
    if (this.current !== undefined && this.current !== state) this.current.closed = true;
    this.current = state;
  }

  private owns(f: ParsedFamily, sampleName: string): boolean {
    for (const s of suffixes[this.format][f.type] ?? ['']) if (f.name + s === sampleName) return true;
    return false;
  }

  /** familyForSample finds the family a sample name belongs to: the current one, an earlier one (interleaved), or a new one. */
  private familyForSample(name: string): FamilyState {
    const cur = this.current;
    if (cur !== undefined && this.owns(cur.family, name)) return cur;
    if (cur !== undefined && cur.family.typed && this.looksLikeSampleOf(cur.family, name)) {
      const want = (suffixes[this.format][cur.family.type] ?? ['']).map((s) => cur.family.name + s).join(', ');
      this.problem('error', 'sample-name', `sample "${name}" does not fit ${cur.family.type} family "${cur.family.name}"; its samples are named ${want}`, cur.family.name);
      return cur;
    }
    for (const state of this.byName.values()) {
      if (state !== cur && this.owns(state.family, name)) {
        this.problem('error', 'interleaved-family', `sample "${name}" belongs to family "${state.family.name}" (line ${state.family.line}), which another family interrupted; keep each family's lines together`, state.family.name);
        this.enter(state);
        return state;
      }
    }
    const state = this.newFamily(name);
    this.enter(state);
    return state;
  }

  /** looksLikeSampleOf: a name the family would own under another type, e.g. `x` under histogram `x`, or OpenMetrics `x` under counter `x`. */
  private looksLikeSampleOf(f: ParsedFamily, name: string): boolean {
    if (name === f.name) return true;
    return this.om && name.startsWith(f.name + '_') && omSuffixes.includes(name.slice(f.name.length));
  }

  private sample(r: LineReader): void {
    const name = r.name(metricNameRe, 'metric name');
    const afterName = r.pos;
    r.optionalBlanks();
    let labels: Record<string, string> = {};
    if (r.peek() === '{') labels = r.labels();
    else r.pos = afterName;
    r.separator('the value');
    const valueTok = r.token();
    const value = parseNumber(valueTok);
    if (value === undefined) r.fail('invalid-value', `"${valueTok}" is not a number; write a float, NaN, +Inf or -Inf`);
    const sample: ParsedSample = { name, labels, value, line: this.lineNo };
    if (!r.done) {
      const blanks = r.blanks();
      if (r.done) r.fail('syntax', 'trailing whitespace after the sample; remove it');
      if (this.om && blanks > 1) r.fail('syntax', 'OpenMetrics separates tokens with exactly one space');
      if (r.peek() !== '#') {
        const ts = r.token();
        sample.timestampMs = this.timestamp(ts, r);
        if (!r.done) {
          const b = r.blanks();
          if (r.done) r.fail('syntax', 'trailing whitespace after the timestamp; remove it');
          if (this.om && b > 1) r.fail('syntax', 'OpenMetrics separates tokens with exactly one space');
        }
      }
      if (!r.done) {
        if (!this.om || r.peek() !== '#') r.fail('syntax', `unexpected "${r.s.slice(r.pos, r.pos + 20)}" after the sample${this.om ? '' : ' (exemplars exist only in OpenMetrics)'}`);
        sample.exemplar = this.exemplar(r);
      }
    }
    const state = this.familyForSample(name);
    state.sampled = true;
    state.family.samples.push(sample);
    const key = seriesKey(name, labels);
    const first = this.series.get(key);
    if (first !== undefined) {
      this.problem('error', 'duplicate-series', `series ${name}${labelText(labels)} already appeared on line ${first}; each series must appear once`, state.family.name);
    } else {
      this.series.set(key, this.lineNo);
    }
  }

  private timestamp(tok: string, r: LineReader): number {
    if (this.om) {
      const v = parseNumber(tok);
      if (v === undefined || !Number.isFinite(v)) r.fail('invalid-timestamp', `"${tok}" is not a timestamp; OpenMetrics timestamps are Unix seconds`);
      return v * 1000;
    }
    if (!/^-?\d+$/.test(tok)) r.fail('invalid-timestamp', `"${tok}" is not a timestamp; text 0.0.4 timestamps are integer Unix milliseconds`);
    return Number(tok);
  }

  private exemplar(r: LineReader): ParsedExemplar {
    r.pos++; // '#'
    if (r.peek() !== ' ') r.fail('syntax', 'expected " " after the exemplar\'s "#"');
    r.pos++;
    if (r.peek() !== '{') r.fail('syntax', 'an exemplar starts with its label set, e.g. # {trace_id="abc"} 1');
    const labels = r.labels();
    let chars = 0;
    for (const [k, v] of Object.entries(labels)) chars += [...k].length + [...v].length;
    if (chars > EXEMPLAR_MAX_CHARS) {
      this.problem('error', 'exemplar', `exemplar labels are ${chars} characters long; OpenMetrics allows ${EXEMPLAR_MAX_CHARS}`);
    }
    r.separator('the exemplar value');
    const tok = r.token();
    const value = parseNumber(tok);
    if (value === undefined) r.fail('invalid-value', `exemplar value "${tok}" is not a number`);
    const ex: ParsedExemplar = { labels, value };
    if (!r.done) {
      r.separator('the exemplar timestamp');
      const ts = r.token();
      const t = parseNumber(ts);
      if (t === undefined || !Number.isFinite(t)) r.fail('invalid-timestamp', `exemplar timestamp "${ts}" is not Unix seconds`);
      ex.timestamp = t;
      if (!r.done) r.fail('syntax', 'unexpected text after the exemplar');
    }
    return ex;
  }

  /** checkFamily checks what only the whole family shows: names, counters, histogram buckets, quantiles, exemplars. */
  private checkFamily(f: ParsedFamily): void {
    if (f.type === 'counter') {
      if (this.om && f.name.endsWith('_total')) {
        this.problem('warning', 'counter-total', `OpenMetrics counter family "${f.name}" is declared with "_total"; declare it as "${f.name.slice(0, -6)}" (its samples carry _total)`, f.name, f.line);
      } else if (!this.om && !f.name.endsWith('_total')) {
        this.problem('warning', 'counter-total', `counter "${f.name}" should end in "_total"; rename it "${f.name}_total"`, f.name, f.line);
      }
      for (const s of f.samples) {
        const total = this.om ? s.name.endsWith('_total') : true;
        if (total && (Number.isNaN(s.value) || s.value < 0)) {
          this.problem('error', 'counter-value', `counter ${s.name}${labelText(s.labels)} is ${s.value}; a counter is never negative or NaN`, f.name, s.line);
        }
      }
    }
    for (const s of f.samples) {
      if (s.exemplar === undefined) continue;
      const onBucket = (f.type === 'histogram' && s.name.endsWith('_bucket')) || (f.type === 'gaugehistogram' && s.name.endsWith('_gbucket'));
      const onTotal = f.type === 'counter' && s.name.endsWith('_total');
      if (!onBucket && !onTotal) {
        this.problem('error', 'exemplar', `exemplar on ${s.name}; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples`, f.name, s.line);
      }
    }
    if (f.type === 'histogram' || f.type === 'gaugehistogram') this.checkHistogram(f);
    if (f.type === 'summary') {
      for (const s of f.samples) {
        if (s.name !== f.name) continue;
        const q = s.labels.quantile === undefined ? undefined : parseNumber(s.labels.quantile);
        if (q === undefined || !(q >= 0 && q <= 1)) {
          this.problem('error', 'summary-quantile', `summary sample ${s.name}${labelText(s.labels)} needs a "quantile" label between 0 and 1`, f.name, s.line);
        }
      }
    }
  }

  private checkHistogram(f: ParsedFamily): void {
    const g = f.type === 'gaugehistogram' ? 'g' : '';
    const bucketName = `${f.name}_${g}bucket`;
    const groups = new Map<string, { labels: Record<string, string>; buckets: { le: number; v: number; line: number }[]; count?: ParsedSample }>();
    const group = (labels: Record<string, string>) => {
      const rest = { ...labels };
      delete rest.le;
      const key = seriesKey('', rest);
      let gr = groups.get(key);
      if (gr === undefined) {
        gr = { labels: rest, buckets: [] };
        groups.set(key, gr);
      }
      return gr;
    };
    for (const s of f.samples) {
      if (s.name === bucketName) {
        const le = s.labels.le === undefined ? undefined : parseNumber(s.labels.le);
        if (le === undefined || Number.isNaN(le)) {
          this.problem('error', 'histogram-le', `bucket ${s.name}${labelText(s.labels)} needs an "le" label with a number (upper bound) or "+Inf"`, f.name, s.line);
          continue;
        }
        group(s.labels).buckets.push({ le, v: s.value, line: s.line });
      } else if (s.name === `${f.name}_${g}count`) {
        group(s.labels).count = s;
      }
    }
    for (const gr of groups.values()) {
      const series = `${f.name}${labelText(gr.labels)}`;
      const b = gr.buckets;
      if (b.length === 0) {
        if (gr.count !== undefined) this.problem('error', 'histogram-missing-inf', `histogram ${series} has a _count but no buckets; expose at least the le="+Inf" bucket`, f.name, gr.count.line);
        continue;
      }
      let ordered = true;
      for (let i = 1; i < b.length; i++) {
        if (!(b[i]!.le > b[i - 1]!.le)) {
          this.problem('error', 'histogram-order', `histogram ${series}: bucket le="${b[i]!.le}" follows le="${b[i - 1]!.le}"; list buckets once each, in increasing le`, f.name, b[i]!.line);
          ordered = false;
          break;
        }
      }
      if (ordered) {
        for (let i = 1; i < b.length; i++) {
          if (b[i]!.v < b[i - 1]!.v) {
            this.problem('error', 'histogram-not-cumulative', `histogram ${series}: bucket le="${b[i]!.le}" counts ${b[i]!.v}, less than le="${b[i - 1]!.le}" (${b[i - 1]!.v}); buckets are cumulative`, f.name, b[i]!.line);
            break;
          }
        }
      }
      const inf = b.find((x) => x.le === Infinity);
      if (inf === undefined) {
        this.problem('error', 'histogram-missing-inf', `histogram ${series} has no le="+Inf" bucket; add it (it equals _count)`, f.name, b[b.length - 1]!.line);
      } else if (gr.count !== undefined && gr.count.value !== inf.v) {
        this.problem('error', 'histogram-count', `histogram ${series}: _count is ${gr.count.value} but the le="+Inf" bucket is ${inf.v}; they must be equal`, f.name, gr.count.line);
      }
    }
  }
}

/** labelText writes a label set as exposition does, for messages. */
export function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}
