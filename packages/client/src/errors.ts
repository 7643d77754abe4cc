import type { ErrorCode } from './types.js';

/**
 * Codes a client call can fail with: the protocol's codes, plus the SDK's own:
 * - `disconnected`: the connection dropped while the request was in flight (retryable);
 * - `timeout`: no reply within the request timeout (retryable);
 * - `closed`: the client is closed for good (by `close()` or a close code that forbids reconnecting).
 */
export type ClientErrorCode = ErrorCode | 'disconnected' | 'timeout' | 'closed';

const RETRYABLE: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  'disconnected',
  'timeout',
  'overloaded',
  'rate_limited',
  'slow_mode',
  'user_rate_limited',
]);

/** The one error class the SDK rejects with; switch on its stable `code`. */
export class ParleyClientError extends Error {
  override readonly name = 'ParleyClientError';
  /** True when the same call may succeed if made again (same `cid` for a send). */
  readonly retryable: boolean;
  /** The WebSocket close code, for `closed` errors caused by the server. */
  readonly closeCode: number | undefined;

  /** Made by the SDK; `code` is the stable part to switch on, `message` is for people. */
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options: { closeCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = RETRYABLE.has(code);
    this.closeCode = options.closeCode;
  }
}

export function toClientError(err: unknown): ParleyClientError {
  if (err instanceof ParleyClientError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ParleyClientError('internal', message, { cause: err });
}
