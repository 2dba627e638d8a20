import { ERROR_CODES, isDiskFull, isMimoeError, type ErrorCode } from '../errors/index.js';

export interface HttpError {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Errors from Fastify and its plugins that carry a safe client-facing status. */
interface FrameworkError {
  statusCode?: number;
  code?: string;
  message?: string;
}

function frameworkCode(status: number): ErrorCode {
  if (status === 413) return 'ERR_BODY_TOO_LARGE';
  if (status === 415) return 'ERR_UNSUPPORTED_MEDIA_TYPE';
  if (status === 404) return 'ERR_NOT_FOUND';
  return 'ERR_BAD_REQUEST';
}

/**
 * The one map from errors to HTTP answers. Unknown errors become a bare 500: their messages and
 * stacks stay in the log, never in a response. A full disk is told as such (507), wherever the
 * write that met it was (an upload, a backup, the node's own database).
 */
export function toHttpError(err: unknown): HttpError {
  if (isMimoeError(err)) {
    return {
      status: ERROR_CODES[err.code].status,
      code: err.code,
      message: err.message,
      ...(err.details === undefined ? {} : { details: err.details }),
    };
  }
  const fw = err as FrameworkError;
  if (
    typeof fw === 'object' &&
    fw !== null &&
    typeof fw.statusCode === 'number' &&
    fw.statusCode >= 400 &&
    fw.statusCode < 500
  ) {
    const code = frameworkCode(fw.statusCode);
    // Fastify says the same for a syntax error and for a prototype-poisoning key it refuses.
    const message =
      fw.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
        ? 'the body is not valid JSON, or holds a __proto__ or constructor.prototype key (refused)'
        : (fw.message ?? ERROR_CODES[code].summary);
    return { status: ERROR_CODES[code].status, code, message };
  }
  // The client may retry once room is made.
  if (isDiskFull(err)) {
    return {
      status: 507,
      code: 'ERR_DISK_FULL',
      message: "the node's disk is full; free some space and retry",
    };
  }
  return { status: 500, code: 'ERR_INTERNAL', message: 'internal error' };
}

/** The JSON body of every error the node makes: `{ code, message }` (plus `error`, `details`). */
export function errorBody(e: HttpError): Record<string, unknown> {
  return {
    code: e.status,
    error: e.code,
    message: e.message,
    ...(e.details === undefined ? {} : { details: e.details }),
  };
}
