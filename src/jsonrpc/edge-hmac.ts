import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Decision: a code lives at most 7 days. Codes are download links; a longer life only widens the
 * window in which a leaked link works, and a client can always mint a fresh one.
 */
export const MAX_CODE_LIFETIME_SECONDS = 7 * 24 * 60 * 60;

/** Why a presented code was refused (`ok` when it was not). */
export type CodeCheck = 'ok' | 'malformed' | 'invalid' | 'expired';

/** `<expiry unix seconds>.<base64url HMAC-SHA256>`: the expiry travels with the code, in clear. */
const CODE = /^([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/;

/** Domain separation: a MAC made here is never valid as any other MAC made with the same secret. */
const CONTEXT = 'mimoe-edge-hmac/v1';

/**
 * Edge HMAC codes (management.md §5): minted by `getEdgeHmacCode`, checked by the routes they
 * authorise. The MAC covers the resource and the expiry, so a code works for one resource only and
 * its expiry cannot be moved. The secret is the node's own (random, 32 bytes, kept in node.db).
 */
export class EdgeHmac {
  constructor(
    private readonly secret: () => Buffer,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  private mac(resource: string, expiry: number): Buffer {
    return createHmac('sha256', this.secret()).update(`${CONTEXT}\n${resource}\n${expiry}`, 'utf8').digest();
  }

  /** The caller has validated `expiry` (integer, in the future, within the lifetime cap). */
  mint(resource: string, expiry: number): string {
    return `${expiry}.${this.mac(resource, expiry).toString('base64url')}`;
  }

  /** Checks a code for `resource`. The MAC is checked before the expiry, so only genuine codes read as expired. */
  check(code: string, resource: string): CodeCheck {
    const m = CODE.exec(code);
    if (m === null) return 'malformed';
    const expiry = Number(m[1]);
    // One spelling per code: no leading zeros in the expiry either.
    if (String(expiry) !== m[1]) return 'malformed';
    // Compared as text: decoding first would accept the 3 other spellings of the last character
    // (its low bits are padding), so a code would not be one string.
    const presented = Buffer.from(m[2] as string, 'utf8');
    const expected = Buffer.from(this.mac(resource, expiry).toString('base64url'), 'utf8');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return 'invalid';
    return expiry <= this.nowSeconds() ? 'expired' : 'ok';
  }

  now(): number {
    return this.nowSeconds();
  }
}
