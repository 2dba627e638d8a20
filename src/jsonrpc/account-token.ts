import { invalidParams } from './protocol.js';

/** Longest token read: real account JWTs are a few KiB at most. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** What an account id may look like (it reaches mims as `context.info.accountId`). */
const ACCOUNT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@|+-]{0,199}$/;

const SEGMENT = /^[A-Za-z0-9_-]+$/;

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw invalidParams(`the token's ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidParams(`the token's ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The account id carried by an account token: its `sub` claim.
 *
 * Decision: the token is a JWT issued by mimik's cloud for the account; this node holds no key to
 * verify its signature, so it is DECODED, NOT VERIFIED. What protects association is the
 * ACCOUNT_API_KEY the caller must present; the token only says which account to record. A token
 * that is not a JWT, has no usable `sub`, or whose `exp` has passed is refused (-32602).
 */
export function accountIdFromToken(token: unknown, nowSeconds: number): string {
  if (typeof token !== 'string' || token.length === 0) {
    throw invalidParams('params[0] must be the account token (a JWT string)');
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw invalidParams(`the account token is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !SEGMENT.test(parts[0] as string) || !SEGMENT.test(parts[1] as string)) {
    throw invalidParams('the account token is not a JWT (header.payload.signature, base64url)');
  }
  const header = decodeSegment(parts[0] as string, 'header');
  if (typeof header['alg'] !== 'string') throw invalidParams('the token header has no "alg"');
  const claims = decodeSegment(parts[1] as string, 'payload');
  const sub = claims['sub'];
  if (typeof sub !== 'string' || !ACCOUNT_ID.test(sub)) {
    throw invalidParams(
      'the token has no usable "sub" claim (the account id: 1-200 letters, digits or ._:@|+-)',
    );
  }
  const exp = claims['exp'];
  if (exp !== undefined) {
    if (typeof exp !== 'number' || !Number.isFinite(exp))
      throw invalidParams('the token\'s "exp" is not a number');
    if (exp <= nowSeconds) throw invalidParams('the account token has expired');
  }
  return sub;
}
