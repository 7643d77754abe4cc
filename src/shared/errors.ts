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
  'rejected',
  'muted',
  'banned',
  'slow_mode',
  'user_rate_limited',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Fields an error may carry besides `code` and `message` (docs/protocol.md, "Error codes"):
 * `reason` the publish hook's own code (`rejected`), `retryAfterMs` when a refused send may be
 * made again (`slow_mode`, `user_rate_limited`), `until` when a restriction ends (`muted`,
 * `banned`: ms since the epoch, null while it has no end).
 */
export interface ErrorDetails {
  reason?: string;
  retryAfterMs?: number;
  until?: number | null;
}

/** An error a client is meant to see: its `code` goes on the wire, its message too. */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  readonly details: ErrorDetails | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: ErrorDetails },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
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

export interface WireError extends ErrorDetails {
  code: ErrorCode;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof ParleyError) return { code: err.code, message: err.message, ...err.details };
  return { code: 'internal', message: 'internal error' };
}

/** `err` as the client should see it: a ParleyError as it is, anything else as `dependency` being unavailable. */
export function toDependencyError(err: unknown, dependency: string): ParleyError {
  if (err instanceof ParleyError) return err;
  return new DependencyError(dependency, `${dependency} is unavailable, retry`, { cause: err });
}

/** Runs a call on `dependency`; a failure that is not a ParleyError becomes its DependencyError. */
export async function dependency<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toDependencyError(err, name);
  }
}
