#!/usr/bin/env node
/** The pipemeter command line: the only code that listens on ports or exits the process. */
import { PipemeterError } from '../shared/errors.js';
import { VERSION } from '../meter/version.js';
import { type CliIO, type Command, UsageError } from './command.js';
import { commands } from './commands/index.js';

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const list = Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `pipemeter ${VERSION}: Prometheus-native metrics for scrapers and pipeline workers.

Usage: pipemeter <command> [options]

Commands:
${list}

Run "pipemeter <command> --help" for a command's options and examples.
`;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  // Asked for, help is the answer (stdout, 0); no command at all is a usage error (stderr, 2), as an unknown one is.
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return 0;
  }
  if (name === undefined) {
    io.stderr.write(`pipemeter: give a command\n\n${usage()}`);
    return 2;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command: Command | undefined = commands[name];
  if (command === undefined) {
    io.stderr.write(`pipemeter: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof PipemeterError) {
      io.stderr.write(`pipemeter ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

const io: CliIO = { stdout: process.stdout, stderr: process.stderr, isTTY: process.stdout.isTTY === true, env: process.env };
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pipemeter: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
