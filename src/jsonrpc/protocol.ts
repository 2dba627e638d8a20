/**
 * JSON-RPC 2.0 envelopes and error objects (https://www.jsonrpc.org/specification).
 * Nothing here knows HTTP: the route hands over the body text and sends back what it gets.
 */

/** The codes the specification reserves, plus the server-error range codes this node uses. */
export const RPC_ERRORS = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Server-defined (-32000..-32099): the call needs a key the request did not present. */
  UNAUTHORIZED: -32001,
} as const;

export type RpcErrorCode = (typeof RPC_ERRORS)[keyof typeof RPC_ERRORS];

/** A request id as the specification allows it; `null` is allowed but discouraged by it. */
export type RpcId = string | number | null;

export interface RpcErrorObject {
  code: RpcErrorCode;
  message: string;
}

export type RpcResponse =
  { jsonrpc: '2.0'; id: RpcId; result: unknown } | { jsonrpc: '2.0'; id: RpcId; error: RpcErrorObject };

/** What a method throws to answer with an error object; any other throw becomes -32603. */
export class RpcError extends Error {
  constructor(
    readonly code: RpcErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export function invalidParams(message: string): RpcError {
  return new RpcError(RPC_ERRORS.INVALID_PARAMS, message);
}

export function errorResponse(id: RpcId, code: RpcErrorCode, message: string): RpcResponse {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

/** Longest string id echoed back: ids are correlation handles, not payloads. */
export const MAX_ID_LENGTH = 256;

/** A request that passed envelope validation. `notification` is true when `id` was absent. */
export interface RpcCall {
  readonly id: RpcId;
  readonly notification: boolean;
  readonly method: string;
  /** Positional params; `named` when the request sent an object, which this node refuses (-32602). */
  readonly params: readonly unknown[] | 'named';
}

function isValidId(value: unknown): value is RpcId {
  if (value === null) return true;
  if (typeof value === 'string') return value.length <= MAX_ID_LENGTH;
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Checks one request object. Returns the call, or an error response (with the request's id when
 * that id itself was valid, `null` otherwise, as the specification asks).
 */
export function readCall(value: unknown): RpcCall | RpcResponse {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return errorResponse(null, RPC_ERRORS.INVALID_REQUEST, 'a request must be a JSON object');
  }
  const req = value as Record<string, unknown>;
  const hasId = Object.hasOwn(req, 'id');
  if (hasId && !isValidId(req['id'])) {
    return errorResponse(
      null,
      RPC_ERRORS.INVALID_REQUEST,
      `"id" must be a string (at most ${MAX_ID_LENGTH} characters), a number or null`,
    );
  }
  const id = hasId ? (req['id'] as RpcId) : null;
  if (req['jsonrpc'] !== '2.0') {
    return errorResponse(id, RPC_ERRORS.INVALID_REQUEST, '"jsonrpc" must be exactly "2.0"');
  }
  const method = req['method'];
  if (typeof method !== 'string' || method.length === 0) {
    return errorResponse(id, RPC_ERRORS.INVALID_REQUEST, '"method" must be a non-empty string');
  }
  const params = req['params'];
  if (params !== undefined && (typeof params !== 'object' || params === null)) {
    return errorResponse(id, RPC_ERRORS.INVALID_REQUEST, '"params" must be an array when present');
  }
  return {
    id,
    notification: !hasId,
    method,
    params: params === undefined ? [] : Array.isArray(params) ? (params as unknown[]) : 'named',
  };
}

export function isResponse(value: RpcCall | RpcResponse): value is RpcResponse {
  return Object.hasOwn(value, 'jsonrpc');
}
