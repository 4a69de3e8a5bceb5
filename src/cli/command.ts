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
