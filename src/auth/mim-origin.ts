/**
 * The node's mark on its own mims' calls to it (sandbox/host/outbound/loopback.ts): the header
 * value `<mim id>.<HMAC-SHA256 of the mim id>` with a secret made at start and never stored or
 * shown. A mim cannot read or forge it: the sandbox adds it after the mim's options were checked,
 * refuses it among the mim's own headers, and the gateway removes it before a mim sees a request.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { secretsEqual } from './api-key.js';

/** The header that carries the mark (the sandbox's outbound client adds it). */
export const ORIGIN_HEADER = 'x-mimoe-origin';

export class MimOrigin {
  private readonly secret = randomBytes(32);

  /** The header value for this mim's calls. */
  tokenFor(mimId: string): string {
    return `${mimId}.${this.mac(mimId)}`;
  }

  /** The id of the mim that made the call, or undefined when the value is not the node's mark. */
  verify(value: unknown): string | undefined {
    if (typeof value !== 'string' || value.length > 512) return undefined;
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const mimId = value.slice(0, dot);
    return secretsEqual(value.slice(dot + 1), this.mac(mimId)) ? mimId : undefined;
  }

  private mac(mimId: string): string {
    return createHmac('sha256', this.secret).update(mimId).digest('base64url');
  }
}

/**
 * The URL hosts (`URL.hostname`) of the node's own loopback addresses, given the address it binds:
 * only calls to these carry the mark. Literal addresses only: `localhost` may lead to ::1, where
 * another local process could listen on the node's port.
 */
export function originHostsFor(bindHost: string): string[] {
  if (bindHost === '0.0.0.0') return ['127.0.0.1'];
  if (bindHost === '::') return ['127.0.0.1', '[::1]'];
  if (bindHost === '::1') return ['[::1]'];
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bindHost)) return [bindHost];
  // A LAN address or a name: the node's own calls over it would not come from a loopback peer.
  return [];
}
