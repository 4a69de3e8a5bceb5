/** Errors with a code and a message that says what to fix; the one-line logger every layer takes. */

export class PipemeterError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PipemeterError';
    this.code = code;
  }
}

/** Where one-line warnings go. */
export type Logger = (message: string) => void;
