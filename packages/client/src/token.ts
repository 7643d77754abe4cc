import type { Clock } from './timers.js';

/** How the client authenticates: a fixed token, or a function that fetches a fresh one. */
export type AuthSource =
  | { token: string }
  | {
      /**
       * Called for the first connection, when the token was refused or is about to expire, and
       * before it expires on an open connection (then presented with `auth`). A rejection is
       * retried after a backoff.
       */
      getToken: () => Promise<string>;
    };

/** A token this close to its `exp` is not used for a new connection when a fresh one can be had. */
const EXPIRY_MARGIN_MS = 5_000;

/**
 * When to refresh a token expiring at `exp` (JWT seconds): at 80% of the remaining lifetime
 * or 30 s before `exp`, whichever is sooner, but not before half of the remaining lifetime
 * (so a short-lived token does not turn into a refresh loop).
 */
export function refreshDelay(exp: number, nowMs: number): number {
  const remaining = exp * 1000 - nowMs;
  if (remaining <= 0) return 0;
  return Math.floor(Math.max(Math.min(0.8 * remaining, remaining - 30_000), 0.5 * remaining));
}

/** The token the next connection presents, and its `exp` once the server told it. */
export class TokenSource {
  #token: string | undefined;
  #exp: number | undefined;
  #stale = false;
  readonly #getToken: (() => Promise<string>) | undefined;

  constructor(
    source: AuthSource,
    private readonly clock: Clock,
  ) {
    if ('getToken' in source) this.#getToken = source.getToken;
    else this.#token = source.token;
  }

  /** True with `getToken`: the client can replace a token that expires or is refused. */
  get refreshable(): boolean {
    return this.#getToken !== undefined;
  }

  /** The token to connect with, fetched when there is none or it was refused or is expiring. */
  async current(): Promise<string> {
    if (this.#getToken && (this.#token === undefined || this.#stale || this.#expiring())) {
      return this.#store(await this.#getToken());
    }
    if (this.#token === undefined) throw new Error('no token');
    return this.#token;
  }

  /** A fresh token from `getToken`; it becomes current once the server accepts it (`update`). */
  fetch(): Promise<string> {
    if (!this.#getToken) return Promise.reject(new Error('no getToken'));
    return this.#getToken();
  }

  update(token: string, exp: number): void {
    this.#store(token);
    this.#exp = exp;
  }

  setExp(exp: number): void {
    this.#exp = exp;
  }

  /** The server refused the token (4001 or HTTP 401): the next connection needs a new one. */
  invalidate(): void {
    this.#stale = true;
  }

  #store(token: string): string {
    if (typeof token !== 'string' || token === '') throw new TypeError('getToken must resolve to a non-empty string');
    this.#token = token;
    this.#stale = false;
    this.#exp = undefined;
    return token;
  }

  #expiring(): boolean {
    return this.#exp !== undefined && this.#exp * 1000 - this.clock.now() < EXPIRY_MARGIN_MS;
  }
}
