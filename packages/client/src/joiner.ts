import { backoffDelay } from './backoff.js';
import { CATCH_UP_PAGE, catchUp } from './catch-up.js';
import { ParleyClientError, toClientError } from './errors.js';
import { Limiter } from './limiter.js';
import type { ResolvedOptions } from './options.js';
import type { RequestTracker } from './requests.js';
import type { JoinTicket, RoomTracker } from './rooms.js';
import type { TimerGroup } from './timers.js';
import type { Connection } from './transport.js';
import type { JoinReply } from './reply-types.js';

/**
 * Requests whose replies may be as large as the server allows (RECOVERY_MAX_BYTES, 256 KiB by
 * default: a join with `since`, a catch-up page) in flight at once. A server closes a client
 * whose unsent bytes pass 2 * SLOW_BYTES (2 MiB by default) with 4029; rejoining a hundred
 * rooms at once after a long absence would ask for more than that in one burst.
 */
const LARGE_REPLIES_IN_FLIGHT = 4;

export interface JoinerDeps {
  rooms: RoomTracker;
  requests: RequestTracker;
  opts: ResolvedOptions;
  /** Timers of the current connection (cleared when it drops). */
  connTimers: TimerGroup;
  /** True while `conn` is the client's current connection. */
  current(conn: Connection): boolean;
}

/** What becomes of a rejoin: `rejoined` once the room is joined on the current connection. */
export interface RejoinOutcome {
  rejoined(): void;
  failed(error: ParleyClientError): void;
}

/**
 * Joins on the wire, for `join()` and for the rejoins after a reconnect: sends the request,
 * applies the reply to the room tracker, and catches up when the reply has `more`.
 */
export class Joiner {
  readonly #large = new Limiter(LARGE_REPLIES_IN_FLIGHT);

  constructor(private readonly deps: JoinerDeps) {}

  /**
   * Joins for `ticket` on `conn`. A reply with `more` starts a catch-up: awaited with
   * `awaitCatchUp` (a `join()` call resolves when the room is whole), else left to run (a rejoin
   * must not hold the connection's readiness back). A failed request undoes the ticket.
   */
  async join(conn: Connection, ticket: JoinTicket, timeoutMs: number, awaitCatchUp: boolean): Promise<JoinReply> {
    const fields = { room: ticket.room, since: ticket.since, epoch: ticket.epoch, presence: this.deps.opts.presence };
    let reply: JoinReply;
    try {
      reply = await (ticket.since === undefined
        ? this.deps.requests.send(conn, 'join', fields, timeoutMs)
        : this.#largeReply(conn, () => this.deps.requests.send(conn, 'join', fields, timeoutMs)));
    } catch (err) {
      this.deps.rooms.abortJoin(ticket);
      throw err;
    }
    if (this.deps.rooms.applyJoin(ticket, reply)) {
      const done = this.#catchUp(conn, ticket, reply);
      if (awaitCatchUp) await done;
    }
    return reply;
  }

  /**
   * Rejoins `room` on `conn` after a reconnect, retrying a retryable failure after a backoff for
   * as long as `conn` is current and the room is still wanted. A failure that is not retryable
   * forgets the room and is handed to `outcome.failed`.
   */
  async rejoin(conn: Connection, room: string, outcome: RejoinOutcome): Promise<void> {
    const { rooms, opts, connTimers } = this.deps;
    for (let attempt = 0; this.deps.current(conn) && rooms.has(room); attempt++) {
      try {
        await this.join(conn, rooms.beginJoin(room), opts.requestTimeout, false);
        if (this.deps.current(conn)) outcome.rejoined();
        return;
      } catch (err) {
        if (!this.deps.current(conn) || !rooms.has(room)) return;
        const error = toClientError(err);
        if (error.retryable) {
          await connTimers.sleep(backoffDelay(attempt, opts.backoff));
          continue;
        }
        rooms.forget(room);
        outcome.failed(error);
        return;
      }
    }
  }

  #catchUp(conn: Connection, ticket: JoinTicket, reply: JoinReply): Promise<void> {
    const { requests, opts, connTimers } = this.deps;
    return catchUp(this.deps.rooms, ticket, reply, {
      page: (after) => this.#largeReply(conn, () => requests.send(conn, 'history', { room: ticket.room, after, limit: CATCH_UP_PAGE }, opts.requestTimeout)),
      current: () => this.deps.current(conn),
      pause: (attempt) => connTimers.sleep(backoffDelay(attempt, opts.backoff)),
    });
  }

  /** Through the limiter; a request whose connection dropped while it waited is not sent. */
  #largeReply<T>(conn: Connection, send: () => Promise<T>): Promise<T> {
    return this.#large.run(() => (this.deps.current(conn) ? send() : Promise.reject(new ParleyClientError('disconnected', 'connection lost'))));
  }
}
