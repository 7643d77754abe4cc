import type { ServerFrame } from './push-types.js';

/**
 * The part of the WebSocket API the SDK uses: met by the browser's and Node 22's global
 * `WebSocket` and by the `ws` package. Handler parameters are `never` so that any of those
 * implementations' event types fit; the SDK reads the events through the shapes below.
 */
export interface WebSocketLike {
  readonly readyState: number;
  /** Called once the socket is open. */
  onopen: ((event: never) => unknown) | null;
  /** Called with each text frame (`event.data`). */
  onmessage: ((event: never) => unknown) | null;
  /** Called when the socket fails. */
  onerror: ((event: never) => unknown) | null;
  /** Called once the socket is closed (`event.code`, `event.reason`). */
  onclose: ((event: never) => unknown) | null;
  /** Sends a text frame. */
  send(data: string): void;
  /** Closes the socket with a close code and reason. */
  close(code?: number, reason?: string): void;
}

/** A WebSocket class such as the global `WebSocket` or the `ws` package's: `new (url)`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The part of `fetch` the SDK uses to ask whether a token is refused (met by the global `fetch`). */
export type FetchLike = (url: string, init: { signal?: AbortSignal; cache?: 'no-store' }) => Promise<{ status: number }>;

interface MessageEventLike {
  data: unknown;
}
interface ErrorEventLike {
  message?: unknown;
  error?: unknown;
}
interface CloseEventLike {
  code: number;
  reason: string;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** The upgrade was refused with HTTP 401 (seen only where the WebSocket implementation tells). */
  unauthorized: boolean;
  /** The socket failed before opening without saying why, as browsers do: it may have been a 401. */
  opaqueFailure: boolean;
}

export interface ConnectionHandlers {
  onFrame(frame: ServerFrame): void;
  onClose(info: CloseInfo): void;
}

const OPEN = 1;
const CLOSED = 3;

/** The global WebSocket if the host has one (browsers, Node >= 22), else undefined. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

/**
 * The `/ws` URL with the token in `?token=` (browsers cannot set headers) and, with `batch`,
 * `batch=1`: the server may then send a room's pushes of one turn as one array frame.
 * `http(s)` becomes `ws(s)`; a path not ending in `/ws` gets `/ws` appended.
 */
export function endpointUrl(base: string, token: string, batch = true): string {
  const origin = (globalThis as { location?: { href?: string } }).location?.href;
  const url = origin === undefined ? new URL(base) : new URL(base, origin);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`not a WebSocket URL: ${base}`);
  if (!url.pathname.endsWith('/ws')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
  url.searchParams.set('token', token);
  if (batch) url.searchParams.set('batch', '1');
  else url.searchParams.delete('batch');
  return url.toString();
}

/**
 * Whether the server refuses the token in `wsUrl`: a plain GET of the same URL answers 401
 * where the upgrade was refused with 401 (the server's /ws token check). False when the
 * question itself fails (network down, a server or proxy without the check, CORS).
 */
export async function tokenRefused(fetch: FetchLike, wsUrl: string, timeoutMs: number): Promise<boolean> {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  try {
    const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(timeoutMs) : undefined;
    const answer = await fetch(url.toString(), { cache: 'no-store', ...(signal ? { signal } : {}) });
    return answer.status === 401;
  } catch {
    return false;
  }
}

/**
 * One WebSocket: parses frames, and turns its error/close events into one `onClose`. An array
 * frame (batched pushes) is handed on element by element, in order.
 */
export class Connection {
  readonly #ws: WebSocketLike;
  #done = false;
  #opened = false;
  #errorText: string | undefined;

  constructor(
    WebSocket: WebSocketConstructor,
    readonly url: string,
    handlers: ConnectionHandlers,
  ) {
    const ws = new WebSocket(url);
    this.#ws = ws;
    ws.onmessage = (event: MessageEventLike) => {
      for (const frame of parseFrames(event.data)) {
        // A handler may have closed the connection: the rest of the batch is not reported.
        if (this.#done) return;
        handlers.onFrame(frame);
      }
    };
    ws.onopen = () => {
      this.#opened = true;
    };
    ws.onerror = (event: ErrorEventLike) => {
      // A refused upgrade shows as an error before open; `ws` names the HTTP status, browsers do not.
      if (!this.#opened) this.#errorText = errorText(event);
    };
    ws.onclose = (event: CloseEventLike) => {
      if (this.#done) return;
      this.#done = true;
      const text = this.#errorText;
      handlers.onClose({
        code: event.code,
        reason: event.reason,
        unauthorized: text !== undefined && /\b401\b/.test(text),
        opaqueFailure: !this.#opened && !text,
      });
    };
  }

  /** Sends one text frame; false if the socket is not open (the close event follows). */
  send(text: string): boolean {
    if (this.#done || this.#ws.readyState !== OPEN) return false;
    try {
      this.#ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops reporting and closes; resolves once the socket is closed. */
  shutdown(code: number, reason: string): Promise<void> {
    this.#done = true;
    return new Promise((resolve) => {
      if (this.#ws.readyState === CLOSED) return resolve();
      this.#ws.onclose = () => resolve();
      this.#close(code, reason, resolve);
    });
  }

  /** Gives up on a socket (dead, or never opened): no more callbacks. */
  abandon(code: number, reason: string): void {
    this.#done = true;
    this.#ws.onclose = null;
    this.#close(code, reason, () => undefined);
  }

  #close(code: number, reason: string, onThrow: () => void): void {
    this.#ws.onmessage = null;
    // Stays set: `ws` throws an 'error' event that has no listener.
    this.#ws.onerror = () => undefined;
    try {
      this.#ws.close(code, reason);
    } catch {
      onThrow();
    }
  }
}

function errorText(event: ErrorEventLike): string {
  if (typeof event.message === 'string') return event.message;
  if (event.error instanceof Error) return event.error.message;
  return '';
}

/** The frames of one text frame: a frame object, or an array of them; anything else is skipped. */
export function parseFrames(data: unknown): ServerFrame[] {
  if (typeof data !== 'string') return [];
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return [];
  }
  return Array.isArray(value) ? value.filter(isFrame) : isFrame(value) ? [value] : [];
}

function isFrame(value: unknown): value is ServerFrame {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { t?: unknown }).t === 'string';
}
