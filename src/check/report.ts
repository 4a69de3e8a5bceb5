/** The check report: the stable JSON shape (version 1, see docs/check.md), the human table, and the exit code. */
import type { Format } from '../exposition/render.js';
import type { FamilySeries, Finding, TargetKind } from './analyse.js';

export const REPORT_VERSION = 1;

export interface TargetReport {
  url: string;
  /** Reachable and without error or warning findings (notes allowed). */
  ok: boolean;
  reachable: boolean;
  /** HTTP status of the last attempt, when there was an answer. */
  status: number | null;
  format: Format | null;
  families: number;
  series: number;
  kinds: TargetKind[];
  top: FamilySeries[];
  findings: Finding[];
}

export interface CheckReport {
  version: typeof REPORT_VERSION;
  ok: boolean;
  targets: TargetReport[];
}

/** exitCode: 2 when a target is unreachable, 1 when any target has an error or warning, else 0. */
export function exitCode(r: CheckReport): number {
  if (r.targets.some((t) => !t.reachable)) return 2;
  return r.ok ? 0 : 1;
}

export function isProblem(f: Finding): boolean {
  return f.severity === 'error' || f.severity === 'warning';
}

export function renderJson(r: CheckReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

const formatName: Record<Format, string> = { text: 'text 0.0.4', openmetrics: 'OpenMetrics 1.0' };
const ansi = { red: 31, yellow: 33, green: 32, dim: 2, bold: 1 } as const;
type Paint = (code: keyof typeof ansi, s: string) => string;

/** Findings per target shown in the table; the rest are counted (--json has them all). */
const MAX_ROWS = 50;

/** renderHuman writes one block per target: a status line, a findings table, and the top families by series. */
export function renderHuman(r: CheckReport, colour: boolean): string {
  const paint: Paint = colour ? (c, s) => `\u001b[${ansi[c]}m${s}\u001b[0m` : (_c, s) => s;
  let out = '';
  for (const t of r.targets) out += target(t, paint) + '\n';
  const down = r.targets.filter((t) => !t.reachable).length;
  const withFindings = r.targets.filter((t) => t.reachable && !t.ok).length;
  const ok = r.targets.length - down - withFindings;
  out += `${r.targets.length} target${r.targets.length === 1 ? '' : 's'}: ${ok} ok, ${withFindings} with findings, ${down} unreachable\n`;
  return out;
}

function target(t: TargetReport, paint: Paint): string {
  const status = !t.reachable ? paint('red', 'UNREACHABLE') : t.ok ? paint('green', 'OK') : paint('yellow', 'FINDINGS');
  const facts = t.reachable
    ? [t.format === null ? '' : formatName[t.format], `${t.families} families`, `${t.series} series`, t.kinds.length > 0 ? `kind: ${t.kinds.join(', ')}` : '']
        .filter((x) => x !== '')
        .join(' · ')
    : '';
  let out = `${paint('bold', t.url)}  ${status}${facts === '' ? '' : '  ' + paint('dim', facts)}\n`;
  const problems = t.findings.filter(isProblem);
  if (problems.length > 0) {
    const rows = problems.slice(0, MAX_ROWS).map((f) => [f.severity, f.code, where(f), f.message] as const);
    const w = [0, 1, 2].map((i) => Math.max(['SEVERITY', 'CODE', 'WHERE'][i]!.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: readonly string[]) => `  ${cells[0]!.padEnd(w[0]!)}  ${cells[1]!.padEnd(w[1]!)}  ${cells[2]!.padEnd(w[2]!)}  ${cells[3]}`;
    out += paint('dim', line(['SEVERITY', 'CODE', 'WHERE', 'MESSAGE']).trimEnd()) + '\n';
    for (const row of rows) {
      // Pad before painting: escape codes would count as width.
      const l = line(row);
      out += `  ${paint(row[0] === 'error' ? 'red' : 'yellow', row[0])}${l.slice(2 + row[0].length)}\n`;
    }
    if (problems.length > MAX_ROWS) out += `  … ${problems.length - MAX_ROWS} more findings (use --json for all)\n`;
  }
  // Notes are context, not problems. Families absent until their first event fit on one line, by name; any other
  // note says more than its family (a refusal's source and reason), so it gets a line with its message.
  const absent = t.findings.filter((f) => f.severity === 'note' && f.code === 'absent-until-event').map((f) => f.family ?? f.message);
  if (absent.length > 0) out += paint('dim', `  note absent-until-event: ${absent.join(', ')}`) + '\n';
  for (const f of t.findings) if (f.severity === 'note' && f.code !== 'absent-until-event') out += paint('dim', `  note ${f.code}: ${f.message}`) + '\n';
  if (t.top.length > 0) {
    const w = Math.max(...t.top.map((x) => String(x.series).length));
    out += `  top families by series:\n`;
    for (const x of t.top) out += `    ${String(x.series).padStart(w)}  ${x.family}\n`;
  }
  return out;
}

function where(f: Finding): string {
  const parts = [`${f.family ?? ''}${f.label === undefined ? '' : `{${f.label}}`}`, f.line === undefined ? '' : `line ${f.line}`];
  const w = parts.filter((p) => p !== '').join(' ');
  return w === '' ? '-' : w;
}
