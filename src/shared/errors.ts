/** Error codes of the wire protocol (docs/protocol.md, "Error codes"). Stable strings: clients switch on them. */
export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_joined',
  'too_large',
  'rate_limited',
  'overloaded',
  'not_found',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error a client is meant to see: its `code` goes on the wire, its message too. */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A dependency (state store, bus, queue) failed or timed out: the client retries with the same cid. */
export class DependencyError extends ParleyError {
  constructor(
    readonly dependency: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('overloaded', message, options);
  }
}

export interface WireError {
  code: ErrorCode;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof ParleyError) return { code: err.code, message: err.message };
  return { code: 'internal', message: 'internal error' };
}
