import { secretsEqual } from '../auth/api-key.js';
import type { ApiKeys } from '../auth/key-file.js';
import {
  RPC_ERRORS,
  RpcError,
  errorResponse,
  isResponse,
  readCall,
  type RpcCall,
  type RpcResponse,
} from './protocol.js';

/**
 * Who may call a method: anyone; the ACCOUNT_API_KEY holder; or, for code minting, also the
 * MCM_API_KEY holder and mims running on this node.
 */
export type Access = 'public' | 'account' | 'account-or-mcm';

export interface RpcMethod {
  readonly access: Access;
  /** Runs the call with positional params; throws RpcError for error objects. */
  call(params: readonly unknown[], caller: CallerScope): unknown;
}

/** What the transport tells about the request: the bearer it carried and whether a local mim sent it. */
export interface Caller {
  readonly bearer: string | undefined;
  readonly fromLocalMim: boolean;
  /** The client id of that mim: what it acts for (a mim may reach only its own client's objects). */
  readonly localMimClient?: string;
  /** The bearer is a valid MCM JWT (scope edge:mcm): the client id it acts for. */
  readonly jwtClient?: string;
}

export interface JsonRpcServerOptions {
  readonly keys: ApiKeys;
  readonly methods: ReadonlyMap<string, RpcMethod>;
  /** Most calls in one batch (default 32); a longer batch is refused whole with -32600. */
  readonly maxBatch?: number;
  /** Told about unexpected failures (answered -32603 without detail). */
  readonly onInternalError?: (err: unknown, method: string) => void;
}

export const DEFAULT_MAX_BATCH = 32;

interface Credentials {
  account: boolean;
  mcm: boolean;
  localMim: boolean;
  /** The one client a keyless caller (a local mim, a JWT) acts for. */
  scopedClient: string | undefined;
}

/**
 * Who a method runs for: `byKey` when a key (account or MCM) authorised the call; otherwise the
 * caller (a mim on this node, or an MCM JWT) acts for one client, `client`.
 */
export interface CallerScope {
  readonly byKey: boolean;
  readonly client: string | undefined;
}

function allowed(access: Access, c: Credentials): boolean {
  if (access === 'public') return true;
  if (access === 'account') return c.account;
  return c.account || c.mcm || c.localMim || c.scopedClient !== undefined;
}

const NEEDS: Record<Exclude<Access, 'public'>, string> = {
  account: 'this method needs Authorization: Bearer <ACCOUNT_API_KEY>',
  'account-or-mcm': 'this method needs Authorization: Bearer <ACCOUNT_API_KEY> (or <MCM_API_KEY>)',
};

/** JSON-RPC 2.0 over one request body: single calls, notifications and bounded batches. */
export class JsonRpcServer {
  private readonly maxBatch: number;

  constructor(private readonly opts: JsonRpcServerOptions) {
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  }

  /**
   * Answers a request body. Undefined means "send no body": the request held only notifications.
   * Never throws.
   */
  async handle(body: string, caller: Caller): Promise<RpcResponse | RpcResponse[] | undefined> {
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      return errorResponse(null, RPC_ERRORS.PARSE_ERROR, 'the body is not valid JSON');
    }
    const credentials: Credentials = {
      account: caller.bearer !== undefined && secretsEqual(caller.bearer, this.opts.keys.accountApiKey),
      mcm: caller.bearer !== undefined && secretsEqual(caller.bearer, this.opts.keys.mcmApiKey),
      localMim: caller.fromLocalMim,
      scopedClient: caller.jwtClient ?? (caller.fromLocalMim ? caller.localMimClient : undefined),
    };
    if (!Array.isArray(payload)) return this.one(payload, credentials);
    if (payload.length === 0) {
      return errorResponse(null, RPC_ERRORS.INVALID_REQUEST, 'an empty batch is not a request');
    }
    if (payload.length > this.maxBatch) {
      return errorResponse(
        null,
        RPC_ERRORS.INVALID_REQUEST,
        `a batch holds at most ${this.maxBatch} calls (this one has ${payload.length})`,
      );
    }
    const answers: RpcResponse[] = [];
    for (const entry of payload) {
      // In order, one at a time: calls of a batch may depend on each other (associate, then getMe).
      const answer = await this.one(entry, credentials);
      if (answer !== undefined) answers.push(answer);
    }
    return answers.length === 0 ? undefined : answers;
  }

  private async one(value: unknown, credentials: Credentials): Promise<RpcResponse | undefined> {
    const read = readCall(value);
    if (isResponse(read)) return read;
    const answer = await this.run(read, credentials);
    return read.notification ? undefined : answer;
  }

  private async run(call: RpcCall, credentials: Credentials): Promise<RpcResponse> {
    const method = this.opts.methods.get(call.method);
    if (method === undefined) {
      return errorResponse(call.id, RPC_ERRORS.METHOD_NOT_FOUND, `no method "${call.method.slice(0, 100)}"`);
    }
    if (method.access !== 'public' && !allowed(method.access, credentials)) {
      return errorResponse(call.id, RPC_ERRORS.UNAUTHORIZED, `unauthorized: ${NEEDS[method.access]}`);
    }
    if (call.params === 'named') {
      return errorResponse(
        call.id,
        RPC_ERRORS.INVALID_PARAMS,
        'this node takes positional params only: "params" must be an array',
      );
    }
    try {
      const result: unknown = await method.call(call.params, {
        byKey: credentials.account || credentials.mcm,
        client: credentials.scopedClient,
      });
      return { jsonrpc: '2.0', id: call.id, result: result ?? null };
    } catch (err) {
      if (err instanceof RpcError) return errorResponse(call.id, err.code, err.message);
      this.opts.onInternalError?.(err, call.method);
      return errorResponse(call.id, RPC_ERRORS.INTERNAL_ERROR, 'internal error');
    }
  }
}
