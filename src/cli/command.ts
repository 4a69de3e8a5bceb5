/** The shape of one CLI command: its help text and a run function that returns the exit code. */

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether stdout is a terminal (colour and tables only there). */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  /** One line for the command list. */
  summary: string;
  /** Full `--help` text, with examples. */
  help: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

/** UsageError is a user's mistake on the command line: printed without a stack, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** unknownOption is the one wording every command uses for an option it does not have. */
export function unknownOption(command: string, option: string): UsageError {
  return new UsageError(`unknown option "${option}"; run "pipemeter ${command} --help" for the options`);
}

/** missingValue is the one wording for an option given without its value, with an example of one. */
export function missingValue(option: string, example: string): UsageError {
  return new UsageError(`${option} needs a value, e.g. ${option} ${example}`);
}
