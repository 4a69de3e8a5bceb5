/** `pipemeter check`: fetch each target's /metrics, parse it strictly, and report what would hurt in Prometheus. */
import { readFileSync } from 'node:fs';
import { checkTargets } from '../../check/check.js';
import { exitCode, renderHuman, renderJson } from '../../check/report.js';
import { type CheckSettings, checkDefaults, splitCredentials, targetUrl } from '../../check/settings.js';
import { formatDuration, parseDuration } from '../../shared/units.js';
import { type CliIO, type Command, UsageError, missingValue, unknownOption } from '../command.js';

const help = `pipemeter check: fetch each target's /metrics and report what Prometheus would choke on.

Usage: pipemeter check URL... [options]

Each URL is fetched as Prometheus scrapes it (OpenMetrics preferred, text 0.0.4 accepted),
parsed strictly, and checked for: exposition problems (with line numbers), stale
*_last_success_timestamp_seconds, families over --max-series, label names and values that
look like ids (UUIDs, hashes, numeric ids, URLs with paths, e-mails, timestamps), and with
--catalog the catalog families the target's kind (scraper, pipeline, http, sidecar) should have.
A URL without a path gets /metrics; without a scheme, http://.

Credentials: a user and password in the URL (http://user:password@host/metrics) are sent
as Basic auth; --bearer-token-file sends a token read from a file as Bearer auth (as
Prometheus's authorization.credentials_file does), to every target without a user in its
URL. No output ever prints a password or a token: URLs are shown as user:***@host.

Options:
  --catalog         compare with the metric catalog (missing families, types, labels)
  --json            print the report as JSON (version 1; see docs/check.md)
  --max-series N    series one family may have (default ${checkDefaults.maxSeries})
  --max-age DUR     a last success older than this is stale (default ${formatDuration(checkDefaults.maxAgeSeconds * 1000)})
  --timeout DUR     per attempt (default ${formatDuration(checkDefaults.timeoutMs)})
  --retries N       retries after a connection error, timeout, 429 or 5xx (default ${checkDefaults.retries})
  --top N           families to list by series count (default ${checkDefaults.top})
  --bearer-token-file FILE  send "Authorization: Bearer <the file's content>" (whitespace trimmed)

Exit codes: 0 ok (notes allowed), 1 findings, 2 a target unreachable or a usage error.

Examples:
  pipemeter check localhost:9464
  pipemeter check http://scraper-1:8000/metrics http://scraper-2:8000/metrics --catalog
  pipemeter check http://worker:9464/metrics --max-age 6h --max-series 500 --json
  pipemeter check https://metrics:$(cat pw)@scraper-1.internal/metrics
  pipemeter check https://sidecar.internal:9464 --bearer-token-file /etc/pipemeter/scrape-token
`;

/** target reads one target argument; a URL that is not one is the user's mistake on the command line. */
function target(arg: string): string {
  try {
    return targetUrl(arg);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** bearerToken reads --bearer-token-file as Prometheus reads credentials_file: the whole file, whitespace trimmed. */
function bearerToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --bearer-token-file "${file}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of a file holding the token`);
  }
  const token = text.trim();
  if (token === '') throw new UsageError(`--bearer-token-file "${file}" is empty; it must hold the token`);
  // A header cannot carry a line break or control character; saying so here keeps the token out of any later error.
  if (/[\u0000-\u001f\u007f]/.test(token)) throw new UsageError(`--bearer-token-file "${file}" holds more than the token (a line break or control character inside it); leave the token alone in the file`);
  return token;
}

function int(flag: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${flag} needs a whole number of at least ${min}, got "${v}"`);
  return Number(v);
}

function duration(flag: string, v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms === 0) throw new UsageError(`${flag} needs a duration such as 500ms, 5s, 2h or 1h30m, got "${v}"`);
  return ms;
}

/** An example value of each option that takes one, for the error when it is missing. */
const examples: Record<string, string> = {
  '--max-series': '500',
  '--max-age': '6h',
  '--timeout': '5s',
  '--retries': '2',
  '--top': '5',
  '--bearer-token-file': '/etc/pipemeter/scrape-token',
};

/** parseCheckArgs turns argv into settings; every user mistake is a UsageError that says what to type instead. */
export function parseCheckArgs(argv: readonly string[]): CheckSettings {
  const s: CheckSettings = { ...checkDefaults, urls: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      s.urls.push(target(arg));
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw missingValue(flag, examples[flag] ?? 'VALUE');
      return v;
    };
    switch (flag) {
      case '--catalog':
        s.catalog = true;
        break;
      case '--json':
        s.json = true;
        break;
      case '--max-series':
        s.maxSeries = int(flag, value(), 1);
        break;
      case '--max-age':
        s.maxAgeSeconds = duration(flag, value()) / 1000;
        break;
      case '--timeout':
        s.timeoutMs = duration(flag, value());
        break;
      case '--retries':
        s.retries = int(flag, value(), 0);
        break;
      case '--top':
        s.top = int(flag, value(), 0);
        break;
      case '--bearer-token-file':
        s.bearerToken = bearerToken(value());
        break;
      default:
        throw unknownOption('check', flag);
    }
    if ((flag === '--catalog' || flag === '--json') && eq >= 0) throw new UsageError(`${flag} takes no value`);
  }
  if (s.urls.length === 0) throw new UsageError('give at least one target, e.g. pipemeter check http://localhost:9464/metrics');
  if (s.bearerToken !== undefined) {
    // Prometheus refuses basic_auth and authorization on one scrape config; so does check, per target.
    const both = s.urls.map(splitCredentials).find((t) => t.basic !== undefined);
    if (both !== undefined) {
      throw new UsageError(`${both.shown} has credentials in its URL and --bearer-token-file is given; a target takes one kind of credentials: drop one`);
    }
  }
  return s;
}

export const check: Command = {
  summary: 'check /metrics endpoints: exposition, catalog, staleness, cardinality',
  help,
  async run(argv: string[], io: CliIO): Promise<number> {
    const settings = parseCheckArgs(argv);
    const report = await checkTargets(settings);
    const colour = io.isTTY && (io.env.NO_COLOR ?? '') === '';
    io.stdout.write(settings.json ? renderJson(report) : renderHuman(report, colour));
    return exitCode(report);
  },
};
