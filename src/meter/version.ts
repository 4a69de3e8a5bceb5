/** The package version, read once from the nearest package.json named pipemeter above this module. */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  // Sources run from src/meter, the build from dist/meter, the bench build from .bench-build/src/meter.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pipemeter' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next level up
    }
  }
  return '0.0.0-unknown';
}

export const VERSION: string = readVersion();
