import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { getMeta, setMeta, type Db } from '../state/node-db.js';

/** Keys of the node db's meta table this module owns (`accountId` is also read by the mim registry). */
const ACCOUNT_ID = 'accountId';
const NODE_NAME = 'nodeName';
const HMAC_SECRET = 'edgeHmacSecret';

/** What the JSON-RPC methods read and change about the node: its name, account and HMAC secret. */
export interface NodeIdentityStore {
  /** The associated account id, '' when none (as mimOE's getMe reports it). */
  accountId(): string;
  setAccountId(accountId: string): void;
  clearAccountId(): void;
  nodeName(): string;
  /** The node's edge HMAC secret: 32 random bytes, created on first need and kept. */
  hmacSecret(): Buffer;
}

/**
 * The store over node.db's meta table. The work dir (and so node.db) is owner-only, which is what
 * keeps the HMAC secret private; it never leaves the node and is never logged.
 */
export function nodeIdentityStore(db: Db, hostName: () => string = () => os.hostname()): NodeIdentityStore {
  let secret: Buffer | undefined;
  return {
    accountId: () => getMeta(db, ACCOUNT_ID) ?? '',
    setAccountId: (accountId) => setMeta(db, ACCOUNT_ID, accountId),
    clearAccountId: () => {
      db.prepare('DELETE FROM meta WHERE key = ?').run(ACCOUNT_ID);
    },
    // Decision: the host name unless a name was stored under `nodeName` in the meta table.
    nodeName: () => getMeta(db, NODE_NAME) ?? (hostName() || 'mimoe'),
    hmacSecret: () => {
      if (secret !== undefined) return secret;
      const stored = getMeta(db, HMAC_SECRET);
      if (stored !== undefined && Buffer.from(stored, 'base64url').length === 32) {
        secret = Buffer.from(stored, 'base64url');
      } else {
        secret = randomBytes(32);
        setMeta(db, HMAC_SECRET, secret.toString('base64url'));
      }
      return secret;
    },
  };
}
