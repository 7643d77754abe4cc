import { ConfigError } from './config-error.js';
import type { Env, JwtAlgorithm } from './schema.js';
import type { AuthConfig } from './types.js';

const HS = new Set<JwtAlgorithm>(['HS256', 'HS384', 'HS512']);
const ASYMMETRIC: JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * How client tokens are verified (JWT_*, AUTH_DEFAULT_ROOMS); throws ConfigError for an
 * algorithm without its key. `secret`: JWT_SECRET, or dev mode's. In dev mode without
 * AUTH_DEFAULT_ROOMS, a token without a rooms claim may join every room.
 */
export function authConfig(e: Env, secret: string | undefined, devMode: boolean): AuthConfig {
  return {
    ...(secret !== undefined ? { secret: new TextEncoder().encode(secret) } : {}),
    ...(e.JWT_PUBLIC_KEY !== undefined ? { publicKeyPem: e.JWT_PUBLIC_KEY.replace(/\\n/g, '\n') } : {}),
    ...(e.JWT_JWKS_URL !== undefined ? { jwksUrl: e.JWT_JWKS_URL } : {}),
    algorithms: resolveAlgorithms(e, secret),
    ...(e.JWT_ISSUER !== undefined ? { issuer: e.JWT_ISSUER } : {}),
    ...(e.JWT_AUDIENCE !== undefined ? { audience: e.JWT_AUDIENCE } : {}),
    clockToleranceS: e.JWT_CLOCK_TOLERANCE_S,
    defaultRooms: e.AUTH_DEFAULT_ROOMS.length > 0 || !devMode ? e.AUTH_DEFAULT_ROOMS : ['*'],
  };
}

function resolveAlgorithms(e: Env, secret: string | undefined): JwtAlgorithm[] {
  const symmetric = secret !== undefined;
  const asymmetric = e.JWT_PUBLIC_KEY !== undefined || e.JWT_JWKS_URL !== undefined;
  if (e.JWT_ALGORITHMS.length === 0) {
    return [...(symmetric ? (['HS256', 'HS384', 'HS512'] as const) : []), ...(asymmetric ? ASYMMETRIC : [])];
  }
  for (const alg of e.JWT_ALGORITHMS) {
    if (HS.has(alg) && !symmetric) throw new ConfigError('JWT_ALGORITHMS', `${alg} needs JWT_SECRET`);
    if (!HS.has(alg) && !asymmetric) throw new ConfigError('JWT_ALGORITHMS', `${alg} needs JWT_PUBLIC_KEY or JWT_JWKS_URL`);
  }
  return [...new Set(e.JWT_ALGORITHMS)];
}
