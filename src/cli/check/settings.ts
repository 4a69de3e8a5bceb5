/** `pipemeter check` settings: one typed object, its defaults, and the argv parser that fills it (the edge). */
import { UsageError } from '../command.js';

export interface CheckSettings {
  /** Targets as given; each is normalised by targetUrl before fetching. */
  urls: string[];
  /** Compare each target with the metric catalog (missing families, types, labels). */
  catalog: boolean;
  json: boolean;
  /** Series one family may have before it is a finding. */
  maxSeries: number;
  /** A `*_last_success_timestamp_seconds` older than this is stale (seconds). */
  maxAgeSeconds: number;
  /** Per attempt, in milliseconds. */
  timeoutMs: number;
  /** Attempts after the first, on a connection error, timeout, 429 or 5xx. */
  retries: number;
  /** Delay before the first retry (ms); it doubles per retry. */
  backoffMs: number;
  /** How many families to list by series count. */
  top: number;
  /** A body larger than this (after gunzip) is refused, as Prometheus's body_size_limit does, instead of filling memory. */
  maxBodyBytes: number;
}

/** checkDefaults: 2 h is the users' "no successful scrape in 2 h" alert; 5 s timeout and 2 retries keep a fleet check under a minute. */
export const checkDefaults: Omit<CheckSettings, 'urls'> = {
  catalog: false,
  json: false,
  maxSeries: 1000,
  maxAgeSeconds: 2 * 3600,
  timeoutMs: 5000,
  retries: 2,
  backoffMs: 200,
  top: 5,
  maxBodyBytes: 64 * 1024 * 1024,
};

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** parseDuration reads a Prometheus-style duration ("500ms", "5s", "2h", "1h30m") into milliseconds. */
export function parseDuration(s: string): number | undefined {
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) ms += Number(m[1]) * units[m[2]!]!;
  return ms;
}

/** formatDuration writes milliseconds as a short Prometheus-style duration, e.g. "3h12m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${u}`);
      s %= n;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.slice(0, 2).join('');
}

/** targetUrl normalises a target: http:// when no scheme, /metrics when no path. */
export function targetUrl(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new UsageError(`"${raw}" is not a URL; give a target like http://localhost:9464/metrics or localhost:9464`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`"${raw}": only http and https targets can be checked`);
  }
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/metrics';
  return u.toString();
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

/** parseCheckArgs turns argv into settings; every user mistake is a UsageError that says what to type instead. */
export function parseCheckArgs(argv: readonly string[]): CheckSettings {
  const s: CheckSettings = { ...checkDefaults, urls: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      s.urls.push(targetUrl(arg));
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
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
      default:
        throw new UsageError(`unknown option "${flag}"; run "pipemeter check --help" for the options`);
    }
    if ((flag === '--catalog' || flag === '--json') && eq >= 0) throw new UsageError(`${flag} takes no value`);
  }
  if (s.urls.length === 0) throw new UsageError('give at least one target, e.g. pipemeter check http://localhost:9464/metrics');
  return s;
}
