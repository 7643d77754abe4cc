import { ParleyClientError } from './errors.js';
import type { Connection } from './transport.js';
import type { Clock } from './timers.js';
import type { ReplyDataMap, ReplyFrame } from './reply-types.js';
import type { ClientRequest, RequestType } from './request-types.js';
import type { Rid } from './types.js';

interface Pending {
  resolve(data: unknown): void;
  reject(err: ParleyClientError): void;
  timer: unknown;
}

/** The fields of a request of type `K`, without `t` and `rid` (assigned here). */
export type RequestFields<K extends RequestType> = Omit<Extract<ClientRequest, { t: K }>, 't' | 'rid'>;

const encoder = new TextEncoder();

/**
 * Requests on the wire: each gets a fresh integer `rid` and settles once, with its reply's
 * `data`, a `ParleyClientError` with the reply's code, `timeout`, or the error given to
 * `failAll` (the connection dropped).
 */
export class RequestTracker {
  #lastRid = 0;
  readonly #pending = new Map<Rid, Pending>();

  constructor(
    private readonly clock: Clock,
    private readonly maxFrameBytes: number,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  send<K extends RequestType>(conn: Connection, t: K, fields: RequestFields<K>, timeoutMs: number): Promise<ReplyDataMap[K]> {
    const rid = ++this.#lastRid;
    const text = JSON.stringify({ t, rid, ...fields });
    // Over MAX_FRAME_BYTES the server closes the connection (1009): refuse it here instead.
    if (encoder.encode(text).byteLength > this.maxFrameBytes) {
      return Promise.reject(new ParleyClientError('too_large', `frame over ${this.maxFrameBytes} bytes`));
    }
    return new Promise<ReplyDataMap[K]>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        if (this.#pending.delete(rid)) reject(new ParleyClientError('timeout', `no reply to ${t} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(rid, { resolve, reject, timer });
      // A failed write means the socket is closing: its close event fails this request.
      conn.send(text);
    });
  }

  /** Settles the request a reply answers; replies to unknown rids (timed out) are dropped. */
  settle(reply: ReplyFrame): void {
    const pending = this.#pending.get(reply.rid);
    if (!pending) return;
    this.#pending.delete(reply.rid);
    this.clock.clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.data ?? {});
    else pending.reject(new ParleyClientError(reply.error?.code ?? 'internal', reply.error?.message ?? 'request failed'));
  }

  failAll(err: ParleyClientError): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of all) {
      this.clock.clearTimeout(pending.timer);
      pending.reject(err);
    }
  }
}
