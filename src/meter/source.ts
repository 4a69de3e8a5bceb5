/** Source labels: a URL is reduced to its host so that `source` stays bounded. */
import { isIPv6 } from 'node:net';

const hostRe = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * sourceLabel returns the lower-cased host of a URL (`https://www.beatport.com/x` -> `www.beatport.com`),
 * a bare host name as is, and `invalid` for anything else. Ports, user info, paths and queries are dropped.
 */
export function sourceLabel(input: string): string {
  if (typeof input !== 'string') return 'invalid';
  let s = input.trim();
  const scheme = s.indexOf('://');
  if (scheme >= 0) s = s.slice(scheme + 3);
  else if (s.startsWith('//')) s = s.slice(2);
  let end = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // '/', '?', '#'
    if (c === 47 || c === 63 || c === 35) {
      end = i;
      break;
    }
  }
  let host = s.slice(0, end);
  const at = host.lastIndexOf('@');
  if (at >= 0) host = host.slice(at + 1);
  if (host.startsWith('[')) {
    // An IPv6 literal: only a valid address is kept, so the brackets cannot carry arbitrary text into the label.
    const close = host.indexOf(']');
    const ip = close > 1 ? host.slice(1, close).toLowerCase() : '';
    return isIPv6(ip) ? `[${ip}]` : 'invalid';
  }
  const colon = host.indexOf(':');
  if (colon >= 0) host = host.slice(0, colon);
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.length > 0 && host.length <= 253 && hostRe.test(host) ? host : 'invalid';
}
