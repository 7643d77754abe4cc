import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, errors, importSPKI, jwtVerify, SignJWT } from 'jose';
import type { CryptoKey, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { ConfigError, type AuthConfig, type JwtAlgorithm } from '../config/index.js';
import { ParleyError } from '../shared/errors.js';
import { parseRoomsClaim, RoomAcl } from './acl.js';
import { AuthError } from './auth-error.js';

/** Who a verified token speaks for. `exp` is a JWT NumericDate (seconds since the epoch). */
export interface Identity {
  user: string;
  exp: number;
  rooms: RoomAcl;
  /** The rooms this user moderates (the `mod` claim), when the token has one. */
  mod?: RoomAcl;
}

/** Longer tokens are refused before any decoding: they are abuse, not identity. */
export const MAX_TOKEN_CHARS = 8192;
const MAX_SUB_CHARS = 128;

/**
 * Verifies client JWTs against one AuthConfig (docs/protocol.md, "Token claims"). The key is
 * chosen by the family of the token's `alg` (HS* -> the secret; others -> the PEM key or the
 * JWKS), so a token signed with the public key as an HMAC secret never meets an HMAC key of
 * those bytes. An `alg` outside `config.algorithms` is refused before any key work. Every
 * failure is an AuthError; a JWKS that cannot be fetched gives reason `key_unavailable`.
 * Throws ConfigError at construction when the PEM key is unusable.
 */
const ACL_CACHE_MAX = 10_000;

export class TokenVerifier {
  private readonly allowed: ReadonlySet<string>;
  private readonly claimChecks: JWTVerifyOptions;
  private readonly pem: { spki: string; algs: ReadonlySet<JwtAlgorithm> } | undefined;
  private readonly pemKeys = new Map<JwtAlgorithm, Promise<CryptoKey>>();
  /** The secret imported once per HS algorithm: jose would import raw bytes again on every verify. */
  private readonly hmacKeys = new Map<string, Promise<CryptoKey>>();
  private readonly jwks: JWTVerifyGetKey | undefined;
  private readonly defaultRooms: RoomAcl;
  /** Connections with the same `rooms` claim share one RoomAcl (idle connections stay small). */
  private readonly acls = new Map<string, RoomAcl>();

  constructor(private readonly config: AuthConfig) {
    this.allowed = new Set(config.algorithms);
    this.claimChecks = {
      requiredClaims: ['exp', 'sub'],
      clockTolerance: config.clockToleranceS,
      ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
      ...(config.audience !== undefined ? { audience: config.audience } : {}),
    };
    this.pem = config.publicKeyPem === undefined ? undefined : inspectPem(config.publicKeyPem);
    this.jwks = config.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(config.jwksUrl));
    this.defaultRooms = new RoomAcl(config.defaultRooms);
  }

  private aclFor(patterns: string[]): RoomAcl {
    const key = patterns.join('\u0000');
    let acl = this.acls.get(key);
    if (!acl) {
      if (this.acls.size >= ACL_CACHE_MAX) this.acls.clear();
      acl = new RoomAcl(patterns);
      this.acls.set(key, acl);
    }
    return acl;
  }

  async verify(token: string): Promise<Identity> {
    if (typeof token !== 'string' || token.length === 0) throw new AuthError('no_token');
    if (token.length > MAX_TOKEN_CHARS) throw new AuthError('too_long');
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError('malformed');
    }
    if (typeof alg !== 'string') throw new AuthError('malformed');
    if (!this.allowed.has(alg)) throw new AuthError('alg_not_allowed');
    const options: JWTVerifyOptions = { ...this.claimChecks, algorithms: [alg] };
    let payload: JWTPayload;
    try {
      if (alg.startsWith('HS')) {
        if (this.config.secret === undefined) throw new AuthError('wrong_key_type');
        ({ payload } = await jwtVerify(token, await this.hmacKey(alg, this.config.secret), options));
      } else if (this.pem !== undefined) {
        ({ payload } = await jwtVerify(token, await this.pemKey(alg as JwtAlgorithm), options));
      } else if (this.jwks !== undefined) {
        ({ payload } = await jwtVerify(token, this.jwks, options));
      } else {
        throw new AuthError('wrong_key_type');
      }
    } catch (err) {
      throw toAuthError(err);
    }
    const { sub, exp } = payload;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_CHARS) {
      throw new AuthError('bad_claim', { claim: 'sub' });
    }
    const rooms = parseRoomsClaim(payload['rooms']);
    const mod = parseRoomsClaim(payload['mod'], 'mod');
    // jose has checked that exp is present, a number, and not past.
    return { user: sub, exp: exp as number, rooms: rooms === undefined ? this.defaultRooms : this.aclFor(rooms), ...(mod !== undefined ? { mod: this.aclFor(mod) } : {}) };
  }

  /** One import per HS algorithm (HS256 -> SHA-256), shared by concurrent callers; only for verifying. */
  private hmacKey(alg: string, secret: Uint8Array): Promise<CryptoKey> {
    let key = this.hmacKeys.get(alg);
    if (key === undefined) {
      key = crypto.subtle.importKey('raw', Uint8Array.from(secret), { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      this.hmacKeys.set(alg, key);
    }
    return key;
  }

  /** One import per algorithm, shared by concurrent callers; an alg of another key family is refused. */
  private pemKey(alg: JwtAlgorithm): Promise<CryptoKey> {
    if (this.pem === undefined || !this.pem.algs.has(alg)) return Promise.reject(new AuthError('wrong_key_type'));
    let key = this.pemKeys.get(alg);
    if (key === undefined) {
      key = importSPKI(this.pem.spki, alg);
      this.pemKeys.set(alg, key);
    }
    return key;
  }
}

/** The algorithms each key type (EC: with its curve) can verify. */
const PEM_KEY_ALGS: Readonly<Record<string, JwtAlgorithm[]>> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'ec:prime256v1': ['ES256'],
  'ec:secp384r1': ['ES384'],
  'ec:secp521r1': ['ES512'],
  ed25519: ['EdDSA'],
};

/** Normalizes the configured PEM to SPKI and lists the algorithms its key type can verify. */
function inspectPem(pem: string): { spki: string; algs: ReadonlySet<JwtAlgorithm> } {
  if (pem.includes('PRIVATE KEY')) throw new ConfigError('JWT_PUBLIC_KEY', 'is a private key: configure the public key only');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError('JWT_PUBLIC_KEY', 'is not a readable PEM public key');
  }
  const spki = key.export({ type: 'spki', format: 'pem' }).toString();
  const kind = key.asymmetricKeyType === 'ec' ? `ec:${key.asymmetricKeyDetails?.namedCurve}` : String(key.asymmetricKeyType);
  const algs = PEM_KEY_ALGS[kind];
  if (algs === undefined) {
    throw new ConfigError('JWT_PUBLIC_KEY', 'must be an RSA, EC (P-256/384/521) or Ed25519 public key');
  }
  return { spki, algs: new Set(algs) };
}

/** Maps jose's error codes to reasons; anything that is not a jose error means no key could be had. */
function toAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (!(err instanceof errors.JOSEError)) return new AuthError('key_unavailable', { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    // jose's error carries the payload: it is not passed on as `cause`, so it cannot reach a log.
    const claim = err.claim;
    if (err.reason === 'missing') return new AuthError('missing_claim', { claim });
    if (claim === 'nbf' && err.reason === 'check_failed') return new AuthError('not_yet_valid');
    if (claim === 'iss' && err.reason === 'check_failed') return new AuthError('wrong_issuer');
    if (claim === 'aud' && err.reason === 'check_failed') return new AuthError('wrong_audience');
    return new AuthError('bad_claim', { claim });
  }
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return new AuthError('expired');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new AuthError('bad_signature');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new AuthError('alg_not_allowed');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new AuthError('unknown_key');
    case 'ERR_JOSE_GENERIC': // jose's code for a JWKS response that is not 200 or not JSON
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWK_INVALID':
      return new AuthError('key_unavailable', { cause: err });
    default:
      return new AuthError('malformed');
  }
}

/**
 * Signs an HS256 token for `user` valid for `ttlS` seconds (dev mode's `POST /dev/token`, and
 * tests). Without `rooms` the token has no rooms claim, so the verifier's default rooms apply.
 * Throws ParleyError `bad_request` for a user, rooms or ttl the verifier would refuse.
 */
export async function mintToken(
  secret: Uint8Array,
  opts: { user: string; rooms?: string[]; mod?: string[]; ttlS: number; issuer?: string; audience?: string },
): Promise<{ token: string; exp: number }> {
  if (opts.user.length === 0 || opts.user.length > MAX_SUB_CHARS) {
    throw new ParleyError('bad_request', `user must be 1-${MAX_SUB_CHARS} characters`);
  }
  if (!Number.isInteger(opts.ttlS) || opts.ttlS <= 0) throw new ParleyError('bad_request', 'ttlS must be a positive integer');
  try {
    parseRoomsClaim(opts.rooms);
    parseRoomsClaim(opts.mod, 'mod');
  } catch {
    throw new ParleyError('bad_request', 'rooms and mod must be arrays of 1-129 character patterns');
  }
  const now = Math.floor(Date.now() / 1000);
  const exp = now + opts.ttlS;
  const jwt = new SignJWT({ ...(opts.rooms !== undefined ? { rooms: opts.rooms } : {}), ...(opts.mod !== undefined ? { mod: opts.mod } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(opts.user)
    .setIssuedAt(now)
    .setExpirationTime(exp);
  if (opts.issuer !== undefined) jwt.setIssuer(opts.issuer);
  if (opts.audience !== undefined) jwt.setAudience(opts.audience);
  return { token: await jwt.sign(secret), exp };
}
