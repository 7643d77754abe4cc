import type { SendChecks } from '../rooms/state/moderation.js';
import type { LocalConnection, PresenceMode } from '../rooms/ports.js';
import type { ModerationAction } from '../domain/events.js';
import { CloseCode, CLOSE_REASONS } from '../shared/close-codes.js';
import { DependencyError, ParleyError, toWireError, type WireError } from '../shared/errors.js';
import type { Identity } from './auth.js';
import { JoinCancelledError } from '../rooms/join-queue.js';
import { FrameGuard } from './frame-guard.js';
import type { Decoded, Request, RoomRequest } from './frames.js';
import type { SessionDeps } from './session-deps.js';
import type { Respond, Transport } from './transport.js';

const NO_ROOMS: ReadonlyMap<string, Promise<void>> = new Map();

/** The protocol version `hello` announces (docs/protocol.md: 2 adds message changes). */
export const PROTOCOL_VERSION = 2;

/**
 * One authenticated client connection, whatever its transport: validates and rate-limits
 * frames, enforces the token's room ACL and expiry, and answers requests through the room
 * service. The request rules are written here once for both transports.
 */
export class Session implements LocalConnection {
  readonly user: string;
  lastSeen = Date.now();
  slow = false;
  /** The code this server closed the connection with, if it did. */
  closeCode: number | undefined;
  /** Joined rooms (made at the first join: most idle connections never have one). */
  private rooms: Map<string, Promise<void>> | undefined;
  private identity: Identity;
  private readonly guard: FrameGuard;
  private ended = false;
  /** Bytes of large replies sent and possibly not yet read by the client (see settleReplyBacklog). */
  private replyBacklog = 0;
  /** Requests still being answered: a closing node lets them finish. */
  private inflight: Set<Promise<unknown>> | undefined;

  constructor(
    readonly connId: string,
    readonly transport: Transport,
    identity: Identity,
    private readonly deps: SessionDeps,
  ) {
    this.identity = identity;
    this.user = identity.user;
    const { ratePerS, rateBurst, maxBadFrames } = deps.limits;
    this.guard = new FrameGuard(ratePerS, rateBurst, maxBadFrames);
  }

  /** Sends `hello`. */
  start(): void {
    this.transport.push({ t: 'hello', session: this.connId, user: this.user, node: this.deps.nodeId, exp: this.identity.exp, heartbeat: this.deps.heartbeatS, protocol: PROTOCOL_VERSION });
    this.deps.events.wrote(this);
  }

  subscribe(room: string, presence: PresenceMode): void {
    this.transport.subscribe(room, presence);
  }

  unsubscribe(room: string): void {
    this.transport.unsubscribe(room);
  }

  close(code: number, reason = CLOSE_REASONS[code] ?? 'closed'): void {
    if (!this.transport.open) return;
    this.closeCode = code;
    this.transport.close(code, reason);
  }

  /** Entry point for every decoded frame; `respond` is present when the request can be answered. */
  handle(decoded: Decoded, reply: Respond | undefined): void {
    this.lastSeen = Date.now();
    const respond: Respond | undefined = reply && ((result) => {
      const written = reply(result);
      this.deps.events.wrote(this);
      return written;
    });
    if (!decoded.ok) {
      this.deps.metrics.frames.inc({ outcome: 'bad' });
      this.fail(respond, decoded.error);
      if (this.guard.bad()) this.close(CloseCode.BAD_FRAMES);
      return;
    }
    const verdict = this.guard.take();
    if (verdict !== 'ok') {
      this.deps.metrics.frames.inc({ outcome: 'rate_limited' });
      this.fail(respond, { code: 'rate_limited', message: `over ${this.deps.limits.ratePerS} frames per second` });
      if (verdict === 'abuse') this.close(CloseCode.RATE_ABUSE);
      return;
    }
    this.deps.metrics.frames.inc({ outcome: 'ok' });
    const started = process.hrtime.bigint();
    const work = this.dispatch(decoded.req);
    (this.inflight ??= new Set()).add(work);
    work.then(
      (data) => {
        const t = decoded.req.t;
        if (t === 'send') this.deps.metrics.sendLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        const written = respond?.({ ok: true, data });
        // The replies that can be large: counted so that the slow-consumer check spares them.
        if (respond && (t === 'join' || t === 'history')) this.replyBacklog += written ?? JSON.stringify(data).length;
      },
      (err: unknown) => {
        // The connection closed before its join's turn: nobody is left to answer or to tell.
        if (err instanceof JoinCancelledError) return;
        if (err instanceof DependencyError) {
          // An outage fails every request that needs the dependency: one line per kind and window.
          this.deps.failures.error(`${err.dependency}/${decoded.req.t}`, { err, user: this.user, session: this.connId, t: decoded.req.t }, 'request failed');
        } else if (!(err instanceof ParleyError)) {
          this.deps.logger.error({ err, user: this.user, session: this.connId, t: decoded.req.t }, 'request failed');
        }
        this.fail(respond, toWireError(err));
      },
    ).finally(() => this.inflight?.delete(work));
  }

  /**
   * What is left of the large replies sent to this client, given `buffered` unsent bytes: the
   * buffer drains oldest first, so at most `buffered` of them. The slow-consumer check counts
   * only what is queued beyond them.
   */
  settleReplyBacklog(buffered: number): number {
    this.replyBacklog = Math.min(this.replyBacklog, buffered);
    return this.replyBacklog;
  }

  /** Joined rooms; the promise settles when the join's membership is in place. */
  get joined(): ReadonlyMap<string, Promise<void>> {
    return this.rooms ?? NO_ROOMS;
  }

  /** Called once by the transport when the connection is gone: leaves every room. */
  async dispose(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const rooms = [...this.joined];
    for (const [room] of rooms) this.dropRoom(room);
    // A join still in flight settles first, so its membership is undone too.
    await Promise.all(
      rooms.map(async ([room, pending]) => {
        await pending;
        await this.deps.rooms.leave(this, room).catch((err: unknown) =>
          this.deps.logger.error({ err, room, user: this.user }, 'leaving a room on disconnect failed'),
        );
      }),
    );
    await Promise.allSettled([...(this.inflight ?? [])]);
  }

  private fail(respond: Respond | undefined, error: WireError): void {
    if (respond) respond({ ok: false, error });
    else {
      this.transport.push({ t: 'error', ...error });
      this.deps.events.wrote(this);
    }
  }

  /**
   * A restriction of this user in `room` changed (on any node): the client is told, and a ban
   * removes the connection from the room (after a join still in flight).
   */
  moderated(room: string, action: ModerationAction, until: number | null): void {
    this.transport.push({ t: 'moderated', room, action, until });
    this.deps.events.wrote(this);
    if (action !== 'ban' || !this.joined.has(room)) return;
    void (async () => {
      await this.joined.get(room);
      if (this.dropRoom(room)) await this.deps.rooms.leave(this, room);
    })().catch((err: unknown) => this.deps.logger.error({ err, room, user: this.user }, 'leaving a room on a ban failed'));
  }

  private async dispatch(req: Request): Promise<unknown> {
    if ('room' in req) {
      this.checkRoom(req);
      if (req.t !== 'join' && req.t !== 'leave' && req.t !== 'moderate') await this.whenJoined(req.room);
    }
    const rooms = this.deps.rooms;
    switch (req.t) {
      case 'join':
        return this.join(req.room, { since: req.since, epoch: req.epoch, presence: req.presence ?? 'each' });
      case 'leave': {
        // A join still in flight settles first, so the membership it set up is undone.
        await this.joined.get(req.room);
        if (!this.dropRoom(req.room)) return { room: req.room };
        await rooms.leave(this, req.room);
        return { room: req.room };
      }
      case 'send':
        return rooms.send(
          { room: req.room, from: this.user, cid: req.cid, body: req.body, ...(req.meta !== undefined ? { meta: req.meta } : {}), ...(req.parent !== undefined ? { parent: req.parent } : {}) },
          this.checks(req.room),
        );
      case 'edit':
        return rooms.change({ room: req.room, from: this.user, cid: req.cid, op: 'edit', target: req.target, body: req.body, ...(req.meta !== undefined ? { meta: req.meta } : {}) }, this.checks(req.room));
      case 'delete':
        return rooms.change({ room: req.room, from: this.user, cid: req.cid, op: 'delete', target: req.target }, this.checks(req.room));
      case 'react':
      case 'unreact':
        return rooms.change({ room: req.room, from: this.user, cid: req.cid, op: req.t, target: req.target, reaction: req.reaction }, this.checks(req.room));
      case 'moderate': {
        const m = this.deps.moderation;
        if (req.action === 'mute' || req.action === 'ban') return m.restrict(req.room, req.action, req.user, req.duration);
        const { lifted: _, ...done } = await m.lift(req.room, req.action === 'unmute' ? 'mute' : 'ban', req.user);
        return done;
      }
      case 'typing':
        await rooms.setTyping(this, req.room, req.on);
        return {};
      case 'read':
        return { room: req.room, seq: await rooms.read(this, req.room, req.seq) };
      case 'history':
        return rooms.historyPage(req.room, { before: req.before, after: req.after, parent: req.parent }, req.limit);
      case 'presence':
        return rooms.presencePage(req.room, req.cursor, req.limit);
      case 'occupancy':
        return rooms.occupancy(req.room);
      case 'auth':
        return this.refresh(req.token);
      case 'ping':
        return {};
    }
  }

  /** What the room's restrictions need to know of this user's message in `room`. */
  private checks(room: string): SendChecks {
    return { slowExempt: this.identity.mod?.allows(room) === true };
  }

  /**
   * `forbidden` before `not_joined` (docs/protocol.md, rule order); `join` and `leave` need no
   * joined room; `moderate` needs the room in the token's `mod` claim instead.
   */
  private checkRoom(req: RoomRequest): void {
    if (req.t === 'moderate') {
      if (!this.identity.mod?.allows(req.room)) throw new ParleyError('forbidden', `not a moderator of "${req.room}"`);
      return;
    }
    if (!this.identity.rooms.allows(req.room)) throw new ParleyError('forbidden', `room "${req.room}" is outside the token's rooms`);
    if (req.t === 'join' || req.t === 'leave') return;
    if (!this.joined.has(req.room)) throw new ParleyError('not_joined', `join "${req.room}" first`);
  }

  /** Waits for a join still in flight; `not_joined` if it failed meanwhile. */
  private async whenJoined(room: string): Promise<void> {
    await this.joined.get(room);
    if (!this.joined.has(room)) throw new ParleyError('not_joined', `join "${room}" first`);
  }

  /** A queued join of a connection that closed meanwhile is dropped before it runs. */
  private gone(): boolean {
    return this.ended || !this.transport.open;
  }

  private async join(room: string, opts: { since: number | undefined; epoch: string | undefined; presence: PresenceMode }): Promise<unknown> {
    const pending = this.joined.get(room);
    const cancelled = () => this.gone();
    if (pending) {
      await pending;
      return this.deps.rooms.join(this, room, { ...opts, rejoin: true, cancelled });
    }
    if (this.joined.size >= this.deps.limits.maxRoomsPerConn) {
      throw new ParleyError('forbidden', `at most ${this.deps.limits.maxRoomsPerConn} rooms per connection`);
    }
    let settle!: () => void;
    (this.rooms ??= new Map()).set(room, new Promise<void>((resolve) => (settle = resolve)));
    this.deps.events.roomJoined(this, room);
    try {
      return await this.deps.rooms.join(this, room, { ...opts, rejoin: false, cancelled });
    } catch (err) {
      this.dropRoom(room);
      throw err;
    } finally {
      settle();
    }
  }

  private async refresh(token: string): Promise<{ exp: number }> {
    const next = await this.deps.verify(token);
    if (next.user !== this.user) throw new ParleyError('unauthorized', 'the token is for another user');
    this.identity = next;
    this.deps.events.renewed(this);
    return { exp: next.exp };
  }

  private dropRoom(room: string): boolean {
    if (!this.rooms?.delete(room)) return false;
    this.deps.events.roomLeft(this, room);
    return true;
  }

  /** When the token stops being valid: its `exp` plus the clock tolerance, in ms since the epoch. */
  get deadlineMs(): number {
    return (this.identity.exp + this.deps.clockToleranceS) * 1000;
  }

  /** True once `deadlineMs` has passed: the gateway closes the session with 4001. */
  expired(nowMs: number): boolean {
    return nowMs >= this.deadlineMs;
  }
}
