import { DEFAULT_BACKOFF } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import { systemClock } from './timers.js';
import type { Clock } from './timers.js';
import { globalWebSocket } from './transport.js';
import type { FetchLike, WebSocketConstructor } from './transport.js';

/** Options of `connect()`; every one has a default. */
export interface ClientOptions {
  /** The WebSocket implementation; default the global one. Node 20 has none: pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Milliseconds a request waits for its reply (and for a connection, if there is none). Default 10 000. */
  requestTimeout?: number;
  /** Milliseconds from opening a socket to its `hello` before giving it up. Default 10 000. */
  connectTimeout?: number;
  /** Reconnect backoff in milliseconds. Default base 500, cap 30 000. */
  backoff?: { base?: number; cap?: number };
  /** The jitter source, uniform in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Time and timers. Default the host's. */
  clock?: Clock;
  /** Frames over this many bytes are refused locally (`too_large`), as the server would close. Default 65 536. */
  maxFrameBytes?: number;
  /**
   * How joined rooms send presence: `delta` (default) lets a big room send one `presence_delta`
   * per interval instead of a push per change; `each` asks for a push per change everywhere.
   */
  presence?: 'each' | 'delta';
  /**
   * Asks the server whether the token is refused after a socket failed before opening without
   * saying why (browsers hide the HTTP 401 of a refused upgrade); `false` never asks. Default
   * the global `fetch` when the WebSocket is the host's own, else none.
   */
  fetch?: FetchLike | false;
  /** Ask the server for batched frames (`/ws?batch=1`): fewer frames in a burst. Default true. */
  batch?: boolean;
}

export interface ResolvedOptions {
  WebSocket: WebSocketConstructor;
  requestTimeout: number;
  connectTimeout: number;
  backoff: BackoffOptions;
  clock: Clock;
  maxFrameBytes: number;
  presence: 'each' | 'delta';
  fetch: FetchLike | undefined;
  batch: boolean;
}

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  const WebSocket = options.WebSocket ?? globalWebSocket();
  if (!WebSocket) {
    throw new TypeError("no global WebSocket: pass options.WebSocket (e.g. `import { WebSocket } from 'ws'`)");
  }
  return {
    WebSocket,
    requestTimeout: positive('requestTimeout', options.requestTimeout ?? 10_000),
    connectTimeout: positive('connectTimeout', options.connectTimeout ?? 10_000),
    backoff: {
      base: positive('backoff.base', options.backoff?.base ?? DEFAULT_BACKOFF.base),
      cap: positive('backoff.cap', options.backoff?.cap ?? DEFAULT_BACKOFF.cap),
      random: options.random ?? Math.random,
    },
    clock: options.clock ?? systemClock,
    maxFrameBytes: positive('maxFrameBytes', options.maxFrameBytes ?? 65_536),
    presence: presenceMode(options.presence),
    fetch: options.fetch === false ? undefined : (options.fetch ?? (options.WebSocket === undefined ? globalFetch() : undefined)),
    batch: options.batch ?? true,
  };
}

function presenceMode(value: unknown): 'each' | 'delta' {
  if (value === undefined) return 'delta';
  if (value !== 'each' && value !== 'delta') throw new RangeError('presence must be "each" or "delta"');
  return value;
}

function globalFetch(): FetchLike | undefined {
  const f = (globalThis as { fetch?: FetchLike }).fetch;
  return f === undefined ? undefined : (url, init) => f(url, init);
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive number`);
  return value;
}
