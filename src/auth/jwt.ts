import {
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';
import { MimoeError } from '../errors/index.js';
import { validateClientId } from './client-id.js';
import { loadJwksFile, loadPemKey, type JwtAlgorithm, type JwtKey } from './jwt-keys.js';

export { algorithmsForKey, type JwtAlgorithm, type JwtKey } from './jwt-keys.js';

/** The scope a token needs for the MCM API (management.md §2). */
export const MCM_SCOPE = 'edge:mcm';

/**
 * Clock skew allowed on `exp` and `nbf`, in seconds: enough for device clocks that drift a little,
 * small next to token lifetimes of minutes to hours.
 */
export const CLOCK_TOLERANCE_SEC = 30;

export interface JwtVerifierOptions {
  /** JWKS file, JSON `{"keys": [...]}`. */
  readonly jwksFile?: string | undefined;
  /** PEM public key file. */
  readonly publicKeyFile?: string | undefined;
  /** When set, the `iss` claim must equal it. */
  readonly issuer?: string | undefined;
  /** When set, the `aud` claim must be or contain it. */
  readonly audience?: string | undefined;
}

/** Who a verified token speaks for. */
export interface JwtIdentity {
  readonly clientId: string;
  readonly subject: string | undefined;
}

/** Every refusal is ERR_UNAUTHORIZED; the message says why without echoing the token. */
function refused(reason: string): MimoeError {
  return new MimoeError('ERR_UNAUTHORIZED', `JWT refused: ${reason}`);
}

/** True when the bearer has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function scopesOf(payload: JWTPayload): string[] {
  const scope = payload['scope'];
  if (typeof scope === 'string') return scope.split(/\s+/).filter((s) => s !== '');
  if (Array.isArray(scope)) return scope.filter((s): s is string => typeof s === 'string');
  return [];
}

function claimsRefusal(err: errors.JWTClaimValidationFailed): MimoeError {
  if (err.claim === 'nbf') return refused('token not yet valid (nbf)');
  if (err.claim === 'exp') return refused('token has no valid expiry (exp)');
  if (err.claim === 'iss') return refused('issuer not accepted');
  if (err.claim === 'aud') return refused('audience not accepted');
  if (err.claim === 'iat') return refused('issued-at (iat) claim is invalid');
  return refused('token claims are invalid');
}

/** Verifies MCM bearer JWTs against keys from node configuration, with pinned algorithms. */
export class JwtVerifier {
  constructor(
    readonly keys: readonly JwtKey[],
    private readonly options: Pick<JwtVerifierOptions, 'issuer' | 'audience'> = {},
  ) {
    if (keys.length === 0) throw new MimoeError('ERR_JWT_KEY_INVALID', 'no JWT verification key');
  }

  /** Every algorithm some key accepts. */
  get algorithms(): JwtAlgorithm[] {
    return [...new Set(this.keys.flatMap((k) => k.algorithms))];
  }

  /**
   * The identity of a valid token, or MimoeError ERR_UNAUTHORIZED saying why it was refused:
   * malformed, unsigned or foreign algorithm, unknown kid, bad signature, expired, not yet valid,
   * wrong issuer or audience, no `edge:mcm` scope, missing or invalid `client_id`.
   */
  async verify(token: string): Promise<JwtIdentity> {
    if (!looksLikeJwt(token)) throw refused('not a well-formed JWT');
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw refused('not a well-formed JWT');
    }
    const alg = header.alg;
    if (typeof alg !== 'string') throw refused('no algorithm (alg) in the header');
    if (alg.toLowerCase() === 'none') throw refused('unsigned tokens (alg none) are not accepted');
    const kid = header.kid;
    // A key without a kid (a PEM key) may verify any token; a key with one only tokens naming it.
    const named = this.keys.filter((k) => kid === undefined || k.kid === undefined || k.kid === kid);
    if (named.length === 0) throw refused('unknown key id (kid)');
    const candidates = named.filter((k) => k.algorithms.some((a) => a === alg));
    if (candidates.length === 0) {
      // The only keys left are kid-less ones of other algorithms: the token's kid is the problem.
      if (kid !== undefined && !this.keys.some((k) => k.kid === kid)) throw refused('unknown key id (kid)');
      const shown = /^[A-Za-z0-9+-]{1,16}$/.test(alg) ? alg : 'of this token';
      throw refused(`algorithm ${shown} is not accepted (allowed: ${this.algorithms.join(', ')})`);
    }

    let payload: JWTPayload | undefined;
    for (const candidate of candidates) {
      try {
        ({ payload } = await jwtVerify(token, candidate.key, {
          algorithms: [alg],
          clockTolerance: CLOCK_TOLERANCE_SEC,
          requiredClaims: ['exp'],
          ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
          ...(this.options.audience === undefined ? {} : { audience: this.options.audience }),
        }));
        break;
      } catch (err) {
        // Several kid-less keys may accept the same algorithm: try the next one.
        if (err instanceof errors.JWSSignatureVerificationFailed) continue;
        if (err instanceof errors.JWTExpired) throw refused('token expired');
        if (err instanceof errors.JWTClaimValidationFailed) throw claimsRefusal(err);
        if (err instanceof errors.JOSEAlgNotAllowed) throw refused('algorithm not accepted');
        if (err instanceof errors.JOSENotSupported) throw refused('unsupported token header');
        throw refused('not a well-formed JWT');
      }
    }
    if (payload === undefined) throw refused('signature does not verify');
    // jose checks iat only against a maximum age: a token issued in the future is not yet valid.
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_SEC)
      throw refused('token issued in the future (iat)');

    if (!scopesOf(payload).includes(MCM_SCOPE)) throw refused(`scope ${MCM_SCOPE} missing`);
    const clientId = payload['client_id'];
    if (typeof clientId !== 'string') throw refused('client_id claim missing');
    try {
      validateClientId(clientId);
    } catch (err) {
      throw refused(`client_id claim: ${err instanceof Error ? err.message : 'invalid'}`);
    }
    return { clientId, subject: typeof payload.sub === 'string' ? payload.sub : undefined };
  }
}

/**
 * Loads the verification keys named by node configuration, at start-up. Undefined when neither key
 * file is configured (JWTs are then refused like any other wrong bearer). A missing, unreadable or
 * invalid file is ERR_JWT_KEY_INVALID.
 */
export function loadJwtVerifier(options: JwtVerifierOptions): JwtVerifier | undefined {
  const keys: JwtKey[] = [];
  if (options.jwksFile !== undefined) keys.push(...loadJwksFile(options.jwksFile));
  if (options.publicKeyFile !== undefined) keys.push(loadPemKey(options.publicKeyFile));
  if (keys.length === 0) return undefined;
  return new JwtVerifier(keys, { issuer: options.issuer, audience: options.audience });
}
