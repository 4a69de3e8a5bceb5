import { describe, expect, it } from 'vitest';
import { sourceLabel } from '../../src/index.js';

describe('sourceLabel', () => {
  it.each([
    ['https://www.beatport.com/track/x/1', 'www.beatport.com'],
    ['http://WWW.Beatport.COM/track?id=1#frag', 'www.beatport.com'],
    ['https://user:secret@api.example.com:8443/v1/items', 'api.example.com'],
    ['//cdn.example.org/a.png', 'cdn.example.org'],
    ['www.mixesdb.com', 'www.mixesdb.com'],
    ['example.com.', 'example.com'],
    ['http://[2001:db8::1]:8080/x', '[2001:db8::1]'],
    ['localhost', 'localhost'],
    ['not a url', 'invalid'],
    ['', 'invalid'],
    ['https:///path-only', 'invalid'],
    ['https://exa mple.com/', 'invalid'],
    [`https://${'a'.repeat(300)}.com/`, 'invalid'],
    // Issue 19 item 12: the brackets of an IPv6 literal carried any text up to ~2 kB into the label.
    [`http://[${'x'.repeat(2000)}]/`, 'invalid'],
    ['http://[not an address]/', 'invalid'],
    ['http://[2001:DB8::1]/', '[2001:db8::1]'],
    ['http://[::ffff:192.0.2.1]:80/', '[::ffff:192.0.2.1]'],
    ['http://[]/', 'invalid'],
  ])('source label of %j is %j', (input, want) => {
    expect(sourceLabel(input)).toBe(want);
  });

  it('returns invalid for a non-string instead of throwing', () => {
    expect(sourceLabel(42 as unknown as string)).toBe('invalid');
  });
});
