import { ParleyError } from '../shared/errors.js';

/** Why a token was refused: stable keys for logs and metrics; the wire code is always `unauthorized`. */
const MESSAGES = {
  no_token: 'no token',
  too_long: 'token too long',
  malformed: 'malformed token',
  alg_not_allowed: 'token algorithm not allowed',
  wrong_key_type: 'no key of the type the token algorithm needs',
  bad_signature: 'token signature invalid',
  unknown_key: 'no key matches the token',
  key_unavailable: 'verification key unavailable',
  expired: 'token expired',
  not_yet_valid: 'token not yet valid',
  wrong_issuer: 'token issuer not accepted',
  wrong_audience: 'token audience not accepted',
  missing_claim: 'token lacks a required claim',
  bad_claim: 'token claim invalid',
} as const satisfies Record<string, string>;

export type AuthReason = keyof typeof MESSAGES;

/**
 * A token was refused (wire code `unauthorized`). The message is built from `reason` and a
 * claim name only, never from the token or its payload, so it is safe to log and to send.
 */
export class AuthError extends ParleyError {
  constructor(
    readonly reason: AuthReason,
    options?: { claim?: string; cause?: unknown },
  ) {
    const claim = options?.claim;
    const message = claim === undefined ? MESSAGES[reason] : `${MESSAGES[reason]}: ${claim}`;
    super('unauthorized', message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
