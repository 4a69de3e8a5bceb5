/** `pipemeter generate`: write the operations assets (deploy/, docs/) from the catalog, or check them for drift. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateAll } from '../../deploy/index.js';
import { defaults } from '../../deploy/settings.js';
import { PipemeterError } from '../../meter/errors.js';
import { type Command, UsageError } from '../command.js';

const help = `pipemeter generate: write the Prometheus, Alertmanager and Grafana assets and the docs they link to,
generated from the metric catalog.

Usage: pipemeter generate [--out DIR] [--check]

Options:
  --out DIR   root to write deploy/ and docs/ under (default: the current directory)
  --check     write nothing; compare the files under DIR with what would be generated,
              list the ones that differ and exit 1 if any does

Examples:
  pipemeter generate                  # regenerate deploy/ and docs/ in this checkout
  pipemeter generate --out /tmp/ops   # write a copy elsewhere
  pipemeter generate --check          # in CI: fail when someone edited a generated file
`;

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export const generate: Command = {
  summary: 'write deploy/ (Prometheus, Alertmanager, Grafana) and docs/ from the metric catalog',
  help,
  async run(argv, io) {
    let values: { out?: string; check?: boolean };
    try {
      ({ values } = parseArgs({ args: argv, options: { out: { type: 'string' }, check: { type: 'boolean' } }, strict: true }));
    } catch (err) {
      throw new UsageError(`${(err as Error).message}; see "pipemeter generate --help"`);
    }
    const root = resolve(values.out ?? process.cwd());
    const files = generateAll(defaults);
    if (values.check === true) {
      const drifted: string[] = [];
      for (const f of files) {
        if ((await readOrUndefined(join(root, f.path))) !== f.content) drifted.push(f.path);
      }
      if (drifted.length > 0) {
        io.stderr.write(
          `pipemeter generate: ${drifted.length} generated file(s) differ from the catalog; run "pipemeter generate" and commit:\n` +
            drifted.map((p) => `  ${p}\n`).join(''),
        );
        return 1;
      }
      io.stdout.write(`${files.length} generated files are up to date\n`);
      return 0;
    }
    for (const f of files) {
      const path = join(root, f.path);
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, f.content);
      } catch (cause) {
        throw new PipemeterError('E_GENERATE_WRITE', `cannot write ${path}: ${(cause as Error).message}; choose a writable --out`, { cause });
      }
    }
    io.stdout.write(`wrote ${files.length} files under ${root}\n`);
    return 0;
  },
};
