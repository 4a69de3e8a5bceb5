/** `pipemeter generate`: write the operations assets (deploy/, docs/) from the catalog, or check them for drift. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateAll } from '../../deploy/index.js';
import { differsFromDefaults, loadSettings } from '../../deploy/settings-file.js';
import { type Settings, defaults } from '../../deploy/settings.js';
import { PipemeterError } from '../../shared/errors.js';
import { type Command, UsageError, missingValue, unknownOption } from '../command.js';

const help = `pipemeter generate: write the Prometheus, Alertmanager and Grafana assets and the docs they link to,
and the Python package's catalog (python/pipemeter/_catalog.py), generated from the metric catalog.

Usage: pipemeter generate [--settings FILE] [--out DIR] [--check]

Options:
  --settings FILE  YAML (or JSON) holding only the deploy settings you change (targets, Slack
                   channels, thresholds, runbook URL, ...), merged over the defaults: mappings
                   key by key, lists and scalars replaced; config/deploy-settings.example.yaml
                   shows the shape. Every problem is listed as file:line:col, exit 2.
                   The promtool cases in deploy/prometheus/tests/ are written for the default
                   thresholds: with other settings, "promtool test rules" shows which edges moved.
  --out DIR        root to write deploy/, docs/ and python/ under (default: the current directory)
  --check          write nothing; compare the files under DIR with what would be generated
                   (from --settings when given), list the ones that differ and exit 1 if any does

Examples:
  pipemeter generate                  # regenerate deploy/ and docs/ in this checkout
  pipemeter generate --out /tmp/ops   # write a copy elsewhere
  pipemeter generate --check          # in CI: fail when someone edited a generated file
  pipemeter generate --settings ops/deploy-settings.yaml --out ops   # your channels and targets
  pipemeter generate --settings ops/deploy-settings.yaml --out ops --check
`;

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** readSettings loads --settings FILE over the defaults, or the defaults alone. */
async function readSettings(file: string | undefined): Promise<Settings> {
  if (file === undefined) return defaults;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new PipemeterError('E_SETTINGS', `cannot read the settings file "${file}" (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); check the path given to --settings`, { cause });
  }
  return loadSettings(text, file);
}

/** usageOf says what node:util's parseArgs refused in the words every pipemeter command uses. */
function usageOf(err: Error & { code?: string }, argv: readonly string[]): UsageError {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return unknownOption('generate', option ?? argv.find((a) => a.startsWith('-')) ?? '');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (option === '--check') return new UsageError('--check takes no value');
      return missingValue(option ?? '--out', option === '--settings' ? 'ops/deploy-settings.yaml' : '/tmp/ops');
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument "${argv.find((a) => !a.startsWith('-')) ?? ''}"; generate takes only options: run "pipemeter generate --help" for them`);
    default:
      return new UsageError(`${err.message}; run "pipemeter generate --help" for the options`);
  }
}

export const generate: Command = {
  summary: 'write deploy/ (Prometheus, Alertmanager, Grafana) and docs/ from the metric catalog',
  help,
  async run(argv, io) {
    let values: { out?: string; check?: boolean; settings?: string };
    try {
      ({ values } = parseArgs({ args: argv, options: { out: { type: 'string' }, check: { type: 'boolean' }, settings: { type: 'string' } }, strict: true }));
    } catch (err) {
      throw usageOf(err as Error & { code?: string }, argv);
    }
    const root = resolve(values.out ?? process.cwd());
    const settings = await readSettings(values.settings);
    if (differsFromDefaults(settings)) {
      // The rule tests are hand-written for the default edges (see generateAll); they are still written, so the moved edges show.
      io.stderr.write(
        `pipemeter generate: notice: ${values.settings} differs from the default settings, but the promtool cases in deploy/prometheus/tests/ ` +
          `are written for the defaults; "promtool test rules" will show which edges moved: update or drop those cases\n`,
      );
    }
    const files = generateAll(settings);
    const again = values.settings === undefined ? 'pipemeter generate' : `pipemeter generate --settings ${values.settings}`;
    if (values.check === true) {
      const drifted: string[] = [];
      for (const f of files) {
        if ((await readOrUndefined(join(root, f.path))) !== f.content) drifted.push(f.path);
      }
      if (drifted.length > 0) {
        io.stderr.write(
          `pipemeter generate: ${drifted.length} generated file(s) differ from the catalog and settings; run "${again}" and commit:\n` +
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
