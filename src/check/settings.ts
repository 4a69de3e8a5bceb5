/** `pipemeter check` settings: one typed object and its defaults; the CLI's argv parser fills it. */
import { PipemeterError } from '../shared/errors.js';

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
  /** Sent as `Authorization: Bearer …` to every target without credentials in its URL (`--bearer-token-file`). Never printed. */
  bearerToken?: string;
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

/** targetUrl normalises a target: http:// when no scheme, /metrics when no path. Credentials in it stay (see splitCredentials). */
export function targetUrl(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new PipemeterError('E_CHECK_TARGET', `"${redactUrl(raw)}" is not a URL; give a target like http://localhost:9464/metrics or localhost:9464`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new PipemeterError('E_CHECK_TARGET', `"${redactUrl(raw)}": only http and https targets can be checked`);
  }
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/metrics';
  return u.toString();
}

/** redactUrl hides the password of every `scheme://user:password@` in a text: `user:***@`, as nothing check prints may hold a secret. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^/@\s:]*):[^/\s]*@/g, '$1:***@');
}

/** A target as it is fetched: the URL without credentials, the URL as printed, and the Basic credentials the URL carried. */
export interface TargetCredentials {
  /** The URL fetched: no user or password in it. */
  url: string;
  /** The URL as reports print it: `http://user:***@host/metrics` when it carried a password. */
  shown: string;
  /** `Basic base64(user:password)`, when the URL carried a user or a password (percent-decoded, as browsers and curl send them). */
  basic?: string;
}

/** splitCredentials takes the user and password out of a normalised target URL, for a Basic Authorization header. */
export function splitCredentials(target: string): TargetCredentials {
  const u = new URL(target);
  if (u.username === '' && u.password === '') return { url: target, shown: target };
  const credentials = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  const shown = redactUrl(target);
  u.username = '';
  u.password = '';
  return { url: u.toString(), shown, basic: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` };
}
