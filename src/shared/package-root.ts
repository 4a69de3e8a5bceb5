/** The installed package's root directory: sources run from src/<layer>/, the build from dist/<layer>/, the bench build from .bench-build/src/<layer>/. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let root: { dir: string; version: string } | undefined;

function find(): { dir: string; version: string } {
  for (const rel of ['../../', '../../../']) {
    const dir = new URL(rel, import.meta.url);
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pipemeter' && typeof pkg.version === 'string') return { dir: fileURLToPath(dir), version: pkg.version };
    } catch {
      // try the next level up
    }
  }
  return { dir: fileURLToPath(new URL('../../', import.meta.url)), version: '0.0.0-unknown' };
}

/** packageRoot is the directory that holds pipemeter's package.json (with a trailing separator). */
export function packageRoot(): string {
  return (root ??= find()).dir;
}

/** packageVersion is pipemeter's version from its package.json. */
export function packageVersion(): string {
  return (root ??= find()).version;
}
