import { accountIdFromToken, MAX_TOKEN_LENGTH } from './account-token.js';
import { MAX_CODE_LIFETIME_SECONDS, type EdgeHmac } from './edge-hmac.js';
import type { NodeIdentityStore } from './identity-store.js';
import { invalidParams, RPC_ERRORS, RpcError } from './protocol.js';
import { parseResource, tarballResource } from './resources.js';
import type { RpcMethod } from './server.js';

export interface MethodDeps {
  readonly nodeId: string;
  readonly version: string;
  readonly identity: NodeIdentityStore;
  readonly hmac: EdgeHmac;
  /** The client id an image belongs to, or undefined when there is no such image. */
  readonly imageOwner: (imageId: string) => string | undefined;
}

/** `getMe` result (the mimOE attributes; `name` repeats `nodeName` for older clients). */
export interface NodeInfo {
  nodeId: string;
  nodeName: string;
  name: string;
  accountId: string;
  version: string;
}

function expectCount(params: readonly unknown[], names: readonly string[]): void {
  if (params.length !== names.length) {
    throw invalidParams(
      `expected ${names.length} positional params [${names.join(', ')}], got ${params.length}`,
    );
  }
}

/**
 * An expiry in Unix seconds: an integer (or its decimal string, without leading zeros, so that one
 * expiry has one spelling), in the future, at most 7 days ahead.
 */
function readExpiry(value: unknown, now: number): number {
  // Up to 16 digits, so milliseconds given as a string get the message below that says so.
  const n = typeof value === 'string' && /^[1-9][0-9]{0,15}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw invalidParams('params[1] (expiry) must be an integer number of Unix seconds');
  }
  if (n <= now) throw invalidParams('params[1] (expiry) is not in the future');
  if (n > now + MAX_CODE_LIFETIME_SECONDS) {
    throw invalidParams(
      `params[1] (expiry) is more than ${MAX_CODE_LIFETIME_SECONDS} seconds (7 days) ahead; it is in seconds, not milliseconds`,
    );
  }
  return n;
}

/** The node's JSON-RPC methods (management.md §5), with their access rules. */
export function accountMethods(deps: MethodDeps): ReadonlyMap<string, RpcMethod> {
  const info = (): NodeInfo => {
    const nodeName = deps.identity.nodeName();
    return {
      nodeId: deps.nodeId,
      nodeName,
      name: nodeName,
      accountId: deps.identity.accountId(),
      version: deps.version,
    };
  };

  return new Map<string, RpcMethod>([
    // mimOE's own examples send `"params": [""]` to getMe: whatever it is given is ignored.
    ['getMe', { access: 'public', call: () => info() }],
    [
      'getEdgeHmacCode',
      {
        access: 'account-or-mcm',
        call: (params, caller) => {
          expectCount(params, ['token', 'expiryUnixSeconds', 'nodeId', 'resource']);
          const [token, expiry, nodeId, resource] = params;
          // The edge token is taken for compatibility and not verified: the bearer key authorises.
          if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
            throw invalidParams(
              `params[0] (token) must be a string of at most ${MAX_TOKEN_LENGTH} characters`,
            );
          }
          const exp = readExpiry(expiry, deps.hmac.now());
          if (typeof nodeId !== 'string' || nodeId !== deps.nodeId) {
            throw invalidParams('params[2] (nodeId) is not the id of this node (see getMe)');
          }
          const parsed = typeof resource === 'string' ? parseResource(resource) : undefined;
          if (parsed === undefined) {
            throw invalidParams('params[3] (resource) must be /mcm/v1/images/{imageId}/tarball');
          }
          // A caller without a key (a local mim, a JWT) acts for one client: its own images only.
          if (
            !caller.byKey &&
            (caller.client === undefined || deps.imageOwner(parsed.imageId) !== caller.client)
          ) {
            throw new RpcError(
              RPC_ERRORS.UNAUTHORIZED,
              "unauthorized: without a key, codes are minted only for the caller's own client's images",
            );
          }
          return { edgeHmacCode: deps.hmac.mint(tarballResource(parsed.imageId), exp) };
        },
      },
    ],
    [
      'associateAccount',
      {
        access: 'account',
        call: (params) => {
          expectCount(params, ['token']);
          const accountId = accountIdFromToken(params[0], deps.hmac.now());
          // Decision: associating again (even with another account) replaces the account id.
          deps.identity.setAccountId(accountId);
          return { nodeId: deps.nodeId, accountId };
        },
      },
    ],
    [
      'unassociateAccount',
      {
        access: 'account',
        call: (params) => {
          expectCount(params, ['token']);
          const accountId = accountIdFromToken(params[0], deps.hmac.now());
          const current = deps.identity.accountId();
          if (current !== '' && current !== accountId) {
            throw invalidParams('the token is for another account than the one associated with this node');
          }
          deps.identity.clearAccountId();
          return { nodeId: deps.nodeId, accountId: '' };
        },
      },
    ],
  ]);
}
