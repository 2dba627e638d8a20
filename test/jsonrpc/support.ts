/** A JWT-shaped token with the given claims and a fake signature (the node decodes, never verifies). */
export function unsignedJwt(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' },
): string {
  const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part(header)}.${part(claims)}.c2lnbmF0dXJl`;
}
