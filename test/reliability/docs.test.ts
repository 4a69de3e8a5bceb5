/** docs/reliability.md names the test behind each guarantee: those tests exist; the documented reject reasons are the real ones. */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rejectReasons } from '../../src/sidecar/events.js';

const doc = readFileSync('docs/reliability.md', 'utf8');

/**
 * Every `file.test.ts` reference (under test/reliability/, or `dir/file.test.ts` under test/), with the quoted
 * test titles that follow it in the same parenthesis or sentence.
 */
const refs: [string, string | undefined][] = [...doc.matchAll(/`((?:[a-z-]+\/)?[a-z-]+\.test\.ts)`((?:[,;]?\s*(?:\(?"[^"]+"\)?)(?:,\s*"[^"]+")*)*)/g)].flatMap((m) => {
  const titles = [...(m[2] ?? '').matchAll(/"([^"]+)"/g)].map((t) => t[1]!.replace(/…$/, '').replace(/\s+/g, ' '));
  return titles.length === 0 ? [[m[1]!, undefined] as [string, string | undefined]] : titles.map((t): [string, string | undefined] => [m[1]!, t]);
});

describe('docs/reliability.md', () => {
  it('names tests', () => {
    expect(refs.length).toBeGreaterThan(30);
  });

  it.each(refs)('%s exists and has a test titled with %j', (file, title) => {
    const path = file.includes('/') ? `test/${file}` : `test/reliability/${file}`;
    expect(existsSync(path)).toBe(true);
    if (title !== undefined) expect(readFileSync(path, 'utf8')).toContain(title);
  });
});

describe('docs/sidecar-api.md', () => {
  it('lists exactly the reasons of pipemeter_ingest_rejected_total', () => {
    const api = readFileSync('docs/sidecar-api.md', 'utf8');
    const para = /`reason` one of ([\s\S]*?)\.\n/.exec(api)![1]!;
    expect([...para.matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1])).toEqual([...rejectReasons]);
  });
});
