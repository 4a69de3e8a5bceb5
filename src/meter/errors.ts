import type { instrumentationErrorReasons } from '../catalog/index.js';
/** Errors with a code and a message that says what to fix; and the counter for recording calls that were ignored. */

export class PipemeterError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PipemeterError';
    this.code = code;
  }
}

/** Why a recording call was ignored; the value of `pipemeter_instrumentation_errors_total{reason}`. */
export type InstrumentationErrorReason = (typeof instrumentationErrorReasons)[number];

export type Logger = (message: string) => void;
