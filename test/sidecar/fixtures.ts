/** Test fixtures for the sidecar: an in-memory file system, a settable clock, and a sidecar built from YAML. */
import { expect } from 'vitest';
import { createMeter } from '../../src/index.js';
import { PipemeterError } from '../../src/shared/errors.js';
import { loadConfig } from '../../src/sidecar/config.js';
import type { ProbeFetch } from '../../src/sidecar/probes.js';
import { type Sidecar, createSidecar } from '../../src/sidecar/sidecar.js';
import type { SidecarFs } from '../../src/sidecar/state.js';

export const T0 = Date.parse('2024-05-01T12:00:00Z');

export function fakeClock(start = T0) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export type MemoryFs = SidecarFs & { files: Map<string, string>; modes: Map<string, number> };

/** memoryFs is a SidecarFs over a map of paths to contents; files are mode 0600 unless `modes` says otherwise. */
export function memoryFs(initial: Record<string, string> = {}): MemoryFs {
  const files = new Map(Object.entries(initial));
  const modes = new Map<string, number>();
  const enoent = (p: string) => Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
  return {
    files,
    modes,
    readSecretFile(p, max) {
      const v = files.get(p);
      if (v === undefined) throw enoent(p);
      if (Buffer.byteLength(v) > max) throw new Error(`it holds ${Buffer.byteLength(v)} bytes, over the ${max} allowed`);
      return { text: v, mode: modes.get(p) ?? 0o100600 };
    },
    async openStateFile(p) {
      const v = files.get(p);
      if (v === undefined) return undefined;
      return (async function* () {
        yield Buffer.from(v);
      })();
    },
    async replaceStateFile(p, chunks) {
      files.set(p, [...chunks].join(''));
    },
  };
}

export interface TestSidecar {
  sidecar: Sidecar;
  clock: ReturnType<typeof fakeClock>;
  fs: MemoryFs;
  logs: string[];
}

/** makeSidecar builds a sidecar from YAML with a fake clock, an in-memory fs and no process metrics. */
export function makeSidecar(yaml: string, opts: { fs?: MemoryFs; clock?: ReturnType<typeof fakeClock>; probe?: ProbeFetch } = {}): TestSidecar {
  const clock = opts.clock ?? fakeClock();
  const fs = opts.fs ?? memoryFs();
  const logs: string[] = [];
  const logger = (m: string) => logs.push(m);
  const config = loadConfig(yaml, 'test.yaml');
  const meter = createMeter({ defaultMetrics: false, maxSeries: config.limits.maxSeries, maxScrapers: config.limits.maxScrapers, maxPipelines: config.limits.maxPipelines, logger });
  const sidecar = createSidecar(config, { meter, clock, fs, logger, probe: opts.probe ?? (async () => 200) });
  return { sidecar, clock, fs, logs };
}

/** sampleLines keeps the sample lines of an exposition whose name starts with one of the prefixes. */
export function sampleLines(text: string, ...prefixes: string[]): string[] {
  return text.split('\n').filter((l) => !l.startsWith('#') && prefixes.some((p) => l.startsWith(p)));
}

/** problemsOf returns the problem lines of a config that must be refused (one E_CONFIG error listing them). */
export function problemsOf(yaml: string): string[] {
  try {
    loadConfig(yaml, 'f.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(PipemeterError);
    expect((err as PipemeterError).code).toBe('E_CONFIG');
    return (err as Error).message.split('\n').slice(1);
  }
  throw new Error('expected the config to be refused');
}
