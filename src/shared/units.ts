/**
 * The one duration and size grammar of every setting: the sidecar config, the deploy settings, `check` and the CLI flags.
 * Durations are Prometheus's (`500ms`, `30s`, `1h30m`, `7d`, `2w`): units y, w, d, h, m, s, ms, largest first, each at
 * most once; pipemeter also takes a decimal (`1.5s`), which a place that hands the text to Prometheus refuses.
 */

const UNIT_MS = { y: 365 * 86_400_000, w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
export type DurationUnit = keyof typeof UNIT_MS;
const UNITS = Object.keys(UNIT_MS) as DurationUnit[];

/** `1h30m`: every part a number and a unit; the order and uniqueness of units are checked after the match. */
const durationRe = /^(?:\d+(?:\.\d+)?(?:ms|[ywdhms]))+$/;
const partRe = /(\d+(?:\.\d+)?)(ms|[ywdhms])/g;

/** What a duration may look like, for error messages. */
export const DURATION_HINT = 'a duration such as "500ms", "30s", "5m", "1h30m" or "7d" (units y, w, d, h, m, s, ms, largest first)';

/** durationParts splits a duration into its parts, or undefined when it is not one. `0` is the zero duration. */
function durationParts(s: string): { value: number; unit: DurationUnit; text: string }[] | undefined {
  if (s === '0') return [];
  if (!durationRe.test(s)) return undefined;
  const parts: { value: number; unit: DurationUnit; text: string }[] = [];
  let last = -1;
  for (const m of s.matchAll(partRe)) {
    const unit = m[2] as DurationUnit;
    const rank = UNITS.indexOf(unit);
    // Prometheus's rule: largest unit first, each once (`30s1m` and `1m1m` are not durations).
    if (rank <= last) return undefined;
    last = rank;
    parts.push({ value: Number(m[1]), unit, text: m[1]! });
  }
  return parts;
}

/** parseDuration reads a duration into milliseconds; undefined when it is not one. */
export function parseDuration(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  const parts = durationParts(s);
  if (parts === undefined) return undefined;
  let ms = 0;
  for (const p of parts) ms += p.value * UNIT_MS[p.unit];
  return Number.isFinite(ms) ? ms : undefined;
}

/** isPrometheusDuration tells whether Prometheus itself reads the text: whole numbers only. */
export function isPrometheusDuration(s: unknown): s is string {
  return typeof s === 'string' && durationParts(s)?.every((p) => /^\d+$/.test(p.text)) === true;
}

/** isSingleUnitDuration tells whether the text is one whole number and one unit (`90m`), as a recording-rule name holds it. */
export function isSingleUnitDuration(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const parts = durationParts(s);
  return parts !== undefined && parts.length === 1 && /^\d+$/.test(parts[0]!.text);
}

/** formatDuration writes milliseconds for a message, to at most two parts: `3h12m`, `45s`, `250ms`. */
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

const sizeRe = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/;
const UNIT_BYTES: Record<string, number> = { B: 1, KB: 1000, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };

/** What a size may look like, for error messages. */
export const SIZE_HINT = 'a size such as "1MiB", "512KiB" or a number of bytes';

/** parseSize reads `1MiB`, `512KiB`, `1000` (bytes) or a whole number of bytes into bytes; undefined when it is not a size above 0. */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = sizeRe.exec(v.trim());
  if (m === null) return undefined;
  const n = Math.floor(Number(m[1]) * UNIT_BYTES[m[2] ?? 'B']!);
  // Past 2^53 it is no longer exact, but still far over any limit: the caller's bound refuses it with its own words.
  return n > 0 && Number.isFinite(n) ? n : undefined;
}
