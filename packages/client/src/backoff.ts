/** Reconnect timing of docs/protocol.md: exponential backoff with full jitter (base 0.5 s, cap 30 s). */
export interface BackoffOptions {
  /** Milliseconds; the ceiling of attempt 0. */
  base: number;
  /** Milliseconds; the largest ceiling. */
  cap: number;
  /** Uniform in [0, 1), like `Math.random`. */
  random: () => number;
}

/** The default reconnect backoff: base 500 ms, cap 30 s. */
export const DEFAULT_BACKOFF: Readonly<Omit<BackoffOptions, 'random'>> = { base: 500, cap: 30_000 };

/** Full jitter: a uniform delay in [0, min(cap, base * 2^attempt)), in whole milliseconds. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.cap, options.base * 2 ** Math.max(0, attempt));
  return Math.floor(options.random() * ceiling);
}

/** What the client does after its connection closed with a given code. */
export type CloseAction =
  /** never reconnect: the client has to be fixed, or the user was kicked */
  | 'stop'
  /** get a new token first (only possible with `getToken`), then reconnect after a backoff */
  | 'token'
  /** the node is draining: reconnect at once, with jitter only */
  | 'now'
  /** rate-limit abuse: reconnect after a backoff of at least `ABUSE_MIN_ATTEMPT` */
  | 'abuse'
  /** anything else (network loss, slow consumer, heartbeat timeout): reconnect after a backoff */
  | 'backoff';

/** The backoff attempt a 4008 close starts from at the least (a window of base * 2^3 = 4 s). */
export const ABUSE_MIN_ATTEMPT = 3;

/** The close-code table of docs/protocol.md. `unauthorized`: the upgrade was refused with HTTP 401. */
export function closeAction(code: number, unauthorized = false): CloseAction {
  if (unauthorized) return 'token';
  switch (code) {
    case 1000: // normal: "nothing"
    case 1009: // frame too large: fix the client
    case 4003: // forbidden: kicked or banned
    case 4400: // too many bad frames: fix the client
      return 'stop';
    case 4001:
      return 'token';
    case 1001:
      return 'now';
    case 4008:
      return 'abuse';
    default: // 4029 (slow consumer) resumes like any other drop
      return 'backoff';
  }
}
