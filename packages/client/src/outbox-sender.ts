import { backoffDelay } from './backoff.js';
import { ParleyClientError, toClientError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { isValidCid, newCid, type Outbox, type OutboxEntry, type OutboxRequest } from './outbox.js';
import type { ReadyGate } from './ready-gate.js';
import type { RequestTracker } from './requests.js';
import type { TimerGroup } from './timers.js';
import type { Connection } from './transport.js';
import type { SendReply } from './reply-types.js';

/** Send refusals that are retried, with the same cid, after a backoff on the same connection. */
const SEND_RETRY: ReadonlySet<string> = new Set(['overloaded', 'rate_limited', 'timeout']);

export interface OutboxSenderDeps {
  outbox: Outbox;
  requests: RequestTracker;
  gate: ReadyGate;
  opts: ResolvedOptions;
  /** Timers of the current connection (cleared when it drops). */
  connTimers: TimerGroup;
}

/**
 * Puts the outbox on the wire: a kept request (`send` and the changes) goes out on the ready
 * connection, is resent with the same cid after a backoff when refused with a retryable code,
 * and is queued again for the next connection when this one drops (Outbox.requeueAll).
 */
export class OutboxSender {
  constructor(private readonly deps: OutboxSenderDeps) {}

  /** Keeps a request until its reply; `cid` defaults to a new one. */
  keep(room: string, t: OutboxRequest, fields: Record<string, unknown>, cidOption: string | undefined): Promise<SendReply> {
    const { outbox, gate } = this.deps;
    const cid = cidOption ?? newCid();
    if (!isValidCid(cid)) return Promise.reject(new ParleyClientError('bad_request', 'cid: 1-64 chars of [A-Za-z0-9_.:@-]'));
    const entry = outbox.add(room, cid, t, fields);
    if (entry.status !== 'queued') return entry.promise;
    // Never failed by the gate: the outbox rejects the entry if the client stops.
    gate.whenOpen((conn) => {
      if (entry.status === 'queued' && outbox.holds(entry)) this.#transmit(conn, entry);
    });
    return entry.promise;
  }

  /** Sends the queued requests of `room` (or of every room) on `conn`. */
  flush(conn: Connection, room?: string): void {
    for (const entry of this.deps.outbox.queued(room)) this.#transmit(conn, entry);
  }

  #transmit(conn: Connection, entry: OutboxEntry): void {
    const { outbox, requests, gate, opts, connTimers } = this.deps;
    entry.status = 'inflight';
    // Every kept request is answered like `send`: its fields are the entry's, whatever its type.
    const send = requests.send.bind(requests) as (conn: Connection, t: OutboxRequest, fields: object, timeoutMs: number) => Promise<SendReply>;
    void send(conn, entry.t, { room: entry.room, cid: entry.cid, ...entry.fields }, opts.requestTimeout).then(
      (reply) => outbox.resolve(entry, reply),
      (err: unknown) => {
        if (conn !== gate.conn) return; // requeued when the connection dropped
        const error = toClientError(err);
        if (!SEND_RETRY.has(error.code)) return outbox.reject(entry, error);
        entry.status = 'waiting';
        connTimers.after(backoffDelay(entry.attempt++, opts.backoff), () => {
          if (entry.status === 'waiting') this.#transmit(conn, entry);
        });
      },
    );
  }
}
