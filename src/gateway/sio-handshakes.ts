import type { IncomingMessage } from 'node:http';
import type { Logger } from '../shared/logger.js';
import type { AddressLimits } from './address-limits.js';
import type { AddressCounts, Admission } from './admission.js';
import { closeEngine, type EngineSocket } from './engine-close.js';
import { errorBody, statusLine } from './http.js';

/**
 * An engine.io session that has not been admitted by then (no Socket.IO CONNECT with a valid
 * token) is closed (docs/protocol.md, "Pushes from the server"). Socket.IO's own `connectTimeout`
 * stays at its 45 s: it closes in engine.io's orderly way, which can keep a long-polling
 * session 30 s longer, and once begun would stop closeEngine from cutting it short.
 */
export const SIO_CONNECT_WINDOW_MS = 10_000;

type AllowCallback = (err: string | null | undefined, success: boolean) => void;

/** The uWS response engine.io's uWS attachment hangs on the request as `req.res` before `allowRequest`. */
interface RawResponse {
  writeStatus(status: string): unknown;
  writeHeader(key: string, value: string): unknown;
  end(body: string): unknown;
  cork(fn: () => void): unknown;
  onAborted(fn: () => void): unknown;
}

function rawResponse(req: IncomingMessage): RawResponse | undefined {
  const res: unknown = (req as { res?: unknown }).res;
  if (typeof res !== 'object' || res === null) return undefined;
  const r = res as Partial<RawResponse>;
  const methods = [r.writeStatus, r.writeHeader, r.end, r.cork, r.onAborted];
  return methods.every((m) => typeof m === 'function') ? (r as RawResponse) : undefined;
}

/**
 * The client address of an engine.io request: its uWS attachment sets only
 * `req.connection.remoteAddress` (the text of uWS's remote address), and the engine.io
 * session's `remoteAddress` is copied from it; behind trusted proxies (TRUST_PROXY) the entry of
 * X-Forwarded-For they name. The handshake and the session count under the same key.
 */
export function handshakeAddress(req: Pick<IncomingMessage, 'headers'>, addresses: AddressLimits): string {
  const remote: unknown = (req as { connection?: { remoteAddress?: unknown } }).connection?.remoteAddress;
  const forwarded = req.headers['x-forwarded-for'];
  return addresses.address(typeof remote === 'string' ? remote : '', typeof forwarded === 'string' ? forwarded : undefined);
}

/**
 * engine.io's `allowRequest`, called for handshakes only (requests without a session id):
 * the Origin allowlist (403, engine.io's own answer), then a draining node (503), at most
 * `maxTokenlessPerAddress` sessions without a token per client address (429) and, when
 * configured, HANDSHAKES_PER_ADDRESS across the cluster (429, counted in Redis: the answer
 * comes later). The refusals are answered here: engine.io would say 403, and a refusal at the
 * handshake keeps the stock client's reconnection going, where a refused CONNECT would stop it.
 */
export function allowSioHandshake(req: IncomingMessage, callback: AllowCallback, admission: Admission, maxTokenlessPerAddress: number): void {
  if (!admission.originAllowed(req.headers.origin)) return callback('origin not allowed', false);
  const res = rawResponse(req);
  if (admission.draining) return refuse(res, callback, 503, 'draining', 'the node is draining');
  const address = handshakeAddress(req, admission.addresses);
  if (admission.tokenless.get(address) >= maxTokenlessPerAddress) {
    admission.logger.debug({ address, max: maxTokenlessPerAddress }, 'Socket.IO handshake refused: too many sessions without a token');
    return refuse(res, callback, 429, 'rate_limited', 'too many sessions without a token from this address');
  }
  if (!admission.addresses.countsHandshakes) return callback(null, true);
  // Still inside uWS's request handler: the answer may come after the client went away.
  let aborted = false;
  res?.onAborted(() => (aborted = true));
  void admission.addresses.handshake(address).then((over) => {
    if (aborted) return;
    if (!over) return callback(null, true);
    if (res) res.cork(() => refuse(res, callback, 429, over, 'too many handshakes from this address'));
    else refuse(res, callback, 429, over, 'too many handshakes from this address');
  });
}

/** Answers the handshake with `status`; without a uWS response to write to, engine.io's 403. */
function refuse(res: RawResponse | undefined, callback: AllowCallback, status: number, code: string, message: string): void {
  if (!res) return callback(message, false);
  // Inside uWS's request handler, or corked after an asynchronous check of a request still
  // open. engine.io is not called back: the request ends here.
  res.writeStatus(statusLine(status));
  res.writeHeader('content-type', 'application/json');
  res.end(JSON.stringify(errorBody(code, message)));
}

/**
 * The engine.io sessions of this node that have not been admitted yet: each counts against
 * its address in `counts` until it is admitted or closes, and is closed when the CONNECT
 * window passes or its CONNECT is refused.
 */
export class TokenlessSessions {
  private readonly pending = new Map<EngineSocket, { address: string; timer: NodeJS.Timeout }>();

  constructor(
    private readonly counts: AddressCounts,
    private readonly addresses: AddressLimits,
    private readonly logger: Logger,
    private readonly windowMs = SIO_CONNECT_WINDOW_MS,
  ) {}

  /** A new engine.io session (engine.io's `connection` event). */
  track(conn: EngineSocket): void {
    const forwarded = conn.request.headers['x-forwarded-for'];
    const address = this.addresses.address(conn.remoteAddress, typeof forwarded === 'string' ? forwarded : undefined);
    const timer = setTimeout(() => {
      this.logger.debug({ address }, 'engine.io session sent no valid CONNECT in time: closed');
      closeEngine(conn, this.logger);
    }, this.windowMs);
    timer.unref();
    this.counts.add(address);
    this.pending.set(conn, { address, timer });
    conn.once('close', () => this.settle(conn));
  }

  /** Its CONNECT carried a valid token: it no longer counts and may stay. */
  admitted(conn: EngineSocket): void {
    this.settle(conn);
  }

  /**
   * Its CONNECT was refused: closed at once, after the connect_error has been queued
   * (Socket.IO queues it on the next tick, and drops it if the session is already closing).
   */
  refused(conn: EngineSocket): void {
    setImmediate(() => closeEngine(conn, this.logger));
  }

  private settle(conn: EngineSocket): void {
    const entry = this.pending.get(conn);
    if (!entry) return;
    this.pending.delete(conn);
    clearTimeout(entry.timer);
    this.counts.remove(entry.address);
  }
}
