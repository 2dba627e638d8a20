export { RPC_ERRORS, RpcError, type RpcResponse, type RpcId } from './protocol.js';
export { JsonRpcServer, type Caller, type RpcMethod, type Access } from './server.js';
export { accountMethods, type NodeInfo } from './methods.js';
export { EdgeHmac, MAX_CODE_LIFETIME_SECONDS, type CodeCheck } from './edge-hmac.js';
export { nodeIdentityStore, type NodeIdentityStore } from './identity-store.js';
export { tarballResource, parseResource } from './resources.js';
export { accountIdFromToken } from './account-token.js';
