import { Emitter } from './emitter.js';
import type { Listener } from './emitter.js';
import { ParleyClientError } from './errors.js';
import type { ClientState, Hello, ParleyEvents } from './events.js';
import { routeFrame } from './frame-router.js';
import { Joiner } from './joiner.js';
import { Link } from './link.js';
import { resolveOptions } from './options.js';
import type { ClientOptions, ResolvedOptions } from './options.js';
import { Outbox } from './outbox.js';
import type { OutboxRequest } from './outbox.js';
import { OutboxSender } from './outbox-sender.js';
import { ReadyGate } from './ready-gate.js';
import { RequestTracker } from './requests.js';
import type { RequestFields } from './requests.js';
import { RoomTracker } from './rooms.js';
import type { RoomPosition } from './rooms.js';
import { TimerGroup } from './timers.js';
import { TokenSource } from './token.js';
import type { AuthSource } from './token.js';
import { endpointUrl } from './transport.js';
import type { Connection } from './transport.js';
import type { AuthReply, HistoryReply, JoinReply, LeaveReply, OccupancyReply, PingReply, PresenceReply, ReadReply, ReplyDataMap, SendReply, TypingReply } from './reply-types.js';
import type { RequestType } from './request-types.js';
import type { Meta } from './types.js';

/** Options of {@link ParleyClient.join}. */
export interface JoinOptions {
  /** Resume from this seq (e.g. kept by the application); default: the position the client holds. */
  since?: number;
  epoch?: string;
}

/**
 * A Parley connection that survives reconnects: rejoins its rooms with `since`, delivers each
 * message once in seq order, resends unacknowledged sends with their cid, refreshes its token.
 *
 * Requests wait for a ready connection (open, rooms rejoined) within the request timeout. A
 * request in flight when the connection drops rejects with the retryable `disconnected`, except
 * `send` (kept in the outbox, resent after the rejoin of its room) and `leave` (resolves: the next
 * connection does not rejoin the room). None is retried by the SDK: `join`, `history`, `presence`
 * and `read` are safe to call again; `typing` and `ping` are moot after a reconnect.
 */
export class ParleyClient {
  readonly #events = new Emitter<ParleyEvents>();
  readonly #opts: ResolvedOptions;
  /** Waiters for a ready connection: they outlive reconnects. */
  readonly #timers: TimerGroup;
  /** Retries bound to the ready connection: cleared when it drops. */
  readonly #connTimers: TimerGroup;
  readonly #tokens: TokenSource;
  readonly #requests: RequestTracker;
  readonly #outbox = new Outbox();
  readonly #rooms: RoomTracker;
  readonly #gate: ReadyGate;
  readonly #sender: OutboxSender;
  readonly #link: Link;
  readonly #joiner: Joiner;
  /** Why the client stopped for good (`unauthorized`, `closed`...): what later calls reject with. */
  #stopError: ParleyClientError | undefined;

  /** Prefer `connect()`. Starts connecting at once. */
  constructor(url: string, auth: AuthSource, options: ClientOptions = {}) {
    this.#opts = resolveOptions(options);
    endpointUrl(url, 'x'); // a bad URL throws here, not on every reconnect
    this.#timers = new TimerGroup(this.#opts.clock);
    this.#connTimers = new TimerGroup(this.#opts.clock);
    this.#tokens = new TokenSource(auth, this.#opts.clock);
    this.#requests = new RequestTracker(this.#opts.clock, this.#opts.maxFrameBytes);
    this.#gate = new ReadyGate({ clock: this.#opts.clock, requestTimeout: this.#opts.requestTimeout, timers: this.#timers });
    this.#sender = new OutboxSender({ outbox: this.#outbox, requests: this.#requests, gate: this.#gate, opts: this.#opts, connTimers: this.#connTimers });
    this.#rooms = new RoomTracker({ msg: (m) => this.#events.emit('msg', m), change: (c) => this.#events.emit('change', c), gap: (g) => this.#events.emit('gap', g) });
    this.#joiner = new Joiner({ rooms: this.#rooms, requests: this.#requests, opts: this.#opts, connTimers: this.#connTimers, current: (conn) => conn === this.#gate.conn });
    const targets = { requests: this.#requests, rooms: this.#rooms, events: this.#events };
    this.#link = new Link(url, this.#tokens, this.#opts, this.#events, this.#requests, {
      open: (conn) => {
        this.#gate.hello(conn);
        void this.#resync(conn);
      },
      frame: (_conn, frame) => routeFrame(frame, targets),
      lost: () => this.#onLost(),
      stopped: (error) => this.#onStopped(error),
    });
    this.#link.start();
  }

  /** Where the connection stands; every change is also a `state` event. */
  get state(): ClientState {
    return this.#link.state;
  }

  /** The `hello` of the current (or last) connection. */
  get session(): Hello | undefined {
    return this.#link.hello;
  }

  /** The epoch and highest seq held for a room the client is in. */
  position(room: string): RoomPosition | undefined {
    return this.#rooms.position(room);
  }

  /** Adds a listener for an event of {@link ParleyEvents}; returns a function that removes it. */
  on<K extends keyof ParleyEvents>(type: K, listener: Listener<ParleyEvents[K]>): () => void {
    return this.#events.on(type, listener);
  }

  /** Adds a listener that runs for the next such event only; returns a function that removes it. */
  once<K extends keyof ParleyEvents>(type: K, listener: Listener<ParleyEvents[K]>): () => void {
    return this.#events.once(type, listener);
  }

  /** Removes a listener added with `on` or `once`. */
  off<K extends keyof ParleyEvents>(type: K, listener: Listener<ParleyEvents[K]>): void {
    this.#events.off(type, listener);
  }

  /**
   * Joins (or re-joins) a room; its `messages` are also delivered as `msg` events. A reply with
   * `more` resolves once the rest has been fetched with `history` and delivered too.
   */
  join(room: string, options?: JoinOptions): Promise<JoinReply> {
    return this.#whenReady((conn, timeLeft) => this.#joiner.join(conn, this.#rooms.beginJoin(room, options), timeLeft, true));
  }

  /** Leaves a room at once for this client: no more messages from it, and no rejoin. */
  async leave(room: string): Promise<LeaveReply> {
    this.#rooms.forget(room);
    if (this.#link.state !== 'open') return { room };
    try {
      return await this.#call('leave', { room });
    } catch (err) {
      if (err instanceof ParleyClientError && (err.code === 'not_joined' || err.code === 'disconnected')) return { room };
      throw err;
    }
  }

  /**
   * Sends a message. It stays in the outbox until its reply, across reconnects, with the same
   * `cid`; the promise settles once: the reply (`dup:true` included), a non-retryable error
   * (`forbidden`, `too_large`, `bad_request`, `not_joined`...), or `closed`.
   */
  send(room: string, body: string, meta?: Meta, options?: { cid?: string }): Promise<SendReply> {
    return this.#keep(room, 'send', { body, ...(meta !== undefined ? { meta } : {}) }, options?.cid);
  }

  /** Sends a reply in the thread of message `parent`, with the guarantees of `send`. */
  reply(room: string, parent: number, body: string, meta?: Meta, options?: { cid?: string }): Promise<SendReply> {
    return this.#keep(room, 'send', { body, ...(meta !== undefined ? { meta } : {}), parent }, options?.cid);
  }

  /**
   * Gives message `target` (one of this user's) a new body and meta, with the guarantees of
   * `send`: kept across reconnects with its `cid` until answered. The reply names the change
   * event; `forbidden` for another user's message, `not_found` for a deleted one.
   */
  edit(room: string, target: number, body: string, meta?: Meta, options?: { cid?: string }): Promise<SendReply> {
    return this.#keep(room, 'edit', { target, body, ...(meta !== undefined ? { meta } : {}) }, options?.cid);
  }

  /** Deletes message `target` (one of this user's): a tombstone stays. Deleting it again answers `dup: true`. */
  delete(room: string, target: number, options?: { cid?: string }): Promise<SendReply> {
    return this.#keep(room, 'delete', { target }, options?.cid);
  }

  /** Adds this user's `reaction` to message `target`; one it already has answers `dup: true`. */
  react(room: string, target: number, reaction: string, options?: { cid?: string }): Promise<SendReply> {
    return this.#keep(room, 'react', { target, reaction }, options?.cid);
  }

  /** Removes this user's `reaction` from message `target`; one already removed answers `dup: true`. */
  unreact(room: string, target: number, reaction: string, options?: { cid?: string }): Promise<SendReply> {
    return this.#keep(room, 'unreact', { target, reaction }, options?.cid);
  }

  /** A page of message `parent`'s thread (its replies), as `history` pages the room. */
  thread(room: string, parent: number, options: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryReply> {
    return this.#call('history', { room, parent, ...options });
  }

  /** A request kept in the outbox until its reply (`send` and the changes), resent with its cid after a reconnect. */
  #keep(room: string, t: OutboxRequest, fields: Record<string, unknown>, cidOption: string | undefined): Promise<SendReply> {
    if (this.#link.stopped) return Promise.reject(this.#stopError ?? new ParleyClientError('closed', 'client closed'));
    return this.#sender.keep(room, t, fields, cidOption);
  }

  /** Starts (`on`) or stops showing this user as typing in a joined room. */
  typing(room: string, on: boolean): Promise<TypingReply> {
    return this.#call('typing', { room, on });
  }

  /** Moves this user's read pointer of a joined room up to `seq`; the server never lowers it. */
  read(room: string, seq: number): Promise<ReadReply> {
    return this.#call('read', { room, seq });
  }

  /** A page of the room's messages: below `before` (or the newest), or above `after`. */
  history(room: string, options: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryReply> {
    return this.#call('history', { room, ...options });
  }

  /** A page of the room's online members; pass the reply's `next` as `cursor` for the next page. */
  presence(room: string, options: { cursor?: string; limit?: number } = {}): Promise<PresenceReply> {
    return this.#call('presence', { room, ...options });
  }

  /** The room's users and connections online, without its roster (a joined room). */
  occupancy(room: string): Promise<OccupancyReply> {
    return this.#call('occupancy', { room });
  }

  /** A round trip to the server. */
  ping(): Promise<PingReply> {
    return this.#call('ping', {});
  }

  /** Presents a new token; it is also the one used for later reconnects. */
  async auth(token: string): Promise<AuthReply> {
    const reply = await this.#call('auth', { token });
    this.#tokens.update(token, reply.exp);
    this.#link.scheduleRefresh(reply.exp);
    return reply;
  }

  /** Closes for good (code 1000): pending calls reject with `closed`. Resolves once the socket is closed. */
  close(): Promise<void> {
    return this.#link.close();
  }

  #call<K extends RequestType>(t: K, fields: RequestFields<K>): Promise<ReplyDataMap[K]> {
    return this.#whenReady((conn, timeLeft) => this.#requests.send(conn, t, fields, timeLeft));
  }

  /** Runs `run` on a ready connection, now or once there is one, within the request timeout. */
  #whenReady<T>(run: (conn: Connection, timeLeft: number) => Promise<T>): Promise<T> {
    if (this.#link.stopped) return Promise.reject(this.#stopError ?? new ParleyClientError('closed', 'client closed'));
    return this.#gate.whenReady(run);
  }

  /** The connection dropped: requests in flight fail (sends stay), joins on the wire are void. */
  #onLost(): void {
    this.#gate.lost();
    this.#connTimers.clear();
    this.#requests.failAll(new ParleyClientError('disconnected', 'connection lost'));
    this.#outbox.requeueAll();
    this.#rooms.disconnected();
  }

  #onStopped(error: ParleyClientError): void {
    this.#stopError = error;
    this.#gate.lost();
    this.#timers.clear();
    this.#connTimers.clear();
    this.#requests.failAll(error);
    this.#outbox.rejectAll(error);
    this.#gate.failWaiting(error);
  }

  /** Rejoins every room (each room's outbox follows its rejoin), then runs the calls made meanwhile, in order. */
  async #resync(conn: Connection): Promise<void> {
    const rejoin = (room: string): Promise<void> =>
      this.#joiner.rejoin(conn, room, {
        rejoined: () => this.#sender.flush(conn, room),
        failed: (error) => {
          this.#outbox.rejectRoom(room, error);
          this.#events.emit('rejoinFailed', { room, error });
        },
      });
    await Promise.all(this.#rooms.joinedRooms().map(rejoin));
    if (conn !== this.#gate.conn) return;
    this.#gate.open(conn);
    this.#sender.flush(conn); // resends to rooms not rejoined: they get their error (not_joined)
  }
}
