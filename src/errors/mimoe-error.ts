import type { ErrorCode } from './codes.js';

/** The one error type domain modules throw. The code is the API; the message is for people. */
export class MimoeError extends Error {
  readonly code: ErrorCode;
  /** Extra, safe-to-show details (never secrets, never stacks). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MimoeError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isMimoeError(value: unknown): value is MimoeError {
  return value instanceof MimoeError;
}
