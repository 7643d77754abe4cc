import type { Logger } from 'pino';
import type { Broadcast } from '../bus/broadcast.js';
import type { DurableQueue } from '../bus/durable-queue.js';
import type { MessageStore } from '../persistence/message-store.js';
import { dependency, DependencyError, ParleyError, toDependencyError } from '../shared/errors.js';
import { annotate, ATTR, inSpan, SpanKind, type TraceContext, type Tracer } from '../shared/tracing.js';
import { RoomChanges, type ChangeRequest } from './changes/room-changes.js';
import { DeliveryPath } from './delivery-path.js';
import { History, type HistoryPage, type PageAnchor } from './history.js';
import { LocalRooms } from './local-rooms.js';
import type { JoinQueue } from './join-queue.js';
import type { LocalConnection, LocalDelivery, PresenceMode, PublishHook, RoomMetrics, RoomsConfig, SendInput } from './ports.js';
import { PublishGate, refusalError } from './publish-gate.js';
import type { RoomEvent } from '../domain/events.js';
import type { ChatMessage, WireChange } from '../domain/messages.js';
import type { Member } from '../domain/presence.js';
import { Retention } from '../domain/retention.js';
import { retainedState, retainedStore } from './retention.js';
import { RoomPresence, type PresenceHook } from './room-presence.js';
import type { Moderation, SendChecks } from './state/moderation.js';
import type { OccupancyCounts, Presence } from './state/presence.js';
import type { RateLimiter } from './state/rate-limiter.js';
import type { RoomState } from './state/room-state.js';
import { Typing } from './typing.js';

export interface RoomDeps {
  state: RoomState;
  presence: Presence;
  bus: Broadcast;
  queue: DurableQueue;
  store: MessageStore;
  delivery: LocalDelivery;
  metrics: RoomMetrics;
  logger: Logger;
  config: RoomsConfig;
  /** Set while tracing is on: spans of joins and of each send's trip. */
  tracer?: Tracer;
  /** Where joins wait for a turn (shared with the gateway's connection admission). */
  joins: JoinQueue;
  /** Told of each online/offline change this node decides (webhooks). */
  presenceHook?: PresenceHook;
  /** The rooms' restrictions: a banned user's join is refused. */
  moderation: Moderation;
  /** HOOK_PUBLISH_URL, when set: screens clients' messages (see PublishGate). */
  hook?: PublishHook;
  /** Counts MSG_RATE_PER_USER when set (config.userMessages). */
  limiter?: RateLimiter;
  /** RETENTION_DAYS: nothing older is read back (rooms/retention.ts); none by default. */
  retention?: Retention;
}

export interface JoinResult {
  room: string;
  epoch: string;
  head: number;
  lastRead: number;
  unread: number;
  occupancy: number;
  messages: ChatMessage[];
  changes: WireChange[];
  recovered: boolean;
  /** Messages after `messages` up to `head` were left out (RECOVERY_MAX, RECOVERY_MAX_BYTES): fetch them with `history` and `after`. */
  more: boolean;
}

export interface JoinOptions {
  since?: number | undefined;
  epoch?: string | undefined;
  presence?: PresenceMode;
  rejoin: boolean;
  /** True once nobody waits for the reply (the connection closed): a join still queued is dropped. */
  cancelled?: () => boolean;
}

export interface SendResult {
  room: string;
  cid: string;
  seq: number;
  ts: number;
  dup: boolean;
}

/**
 * The room semantics of docs/protocol.md, transport-neutral: sessions of both transports and the
 * admin API call this. It keeps this node's local membership (for interest-based bus
 * subscriptions), orders incoming messages per room, and runs typing and presence timers.
 */
export class RoomService {
  private readonly local: LocalRooms;
  private readonly typing: Typing;
  private readonly presence: RoomPresence;
  private readonly history: History;
  private readonly path: DeliveryPath;
  private readonly gate: PublishGate;
  private readonly changes: RoomChanges;

  constructor(private readonly deps: RoomDeps) {
    const retention = deps.retention ?? new Retention(0);
    this.history = new History(retainedState(deps.state, retention), retainedStore(deps.store, retention), { ...deps.config, usersShown: deps.config.reactions.usersShown });
    this.path = new DeliveryPath({ state: deps.state, queue: deps.queue, bus: deps.bus, history: this.history, logger: deps.logger, ...(deps.tracer ? { tracer: deps.tracer } : {}) });
    const { config, delivery, logger } = deps;
    this.gate = new PublishGate({
      probe: (input, checks) => deps.state.probe(input, checks),
      ...(deps.hook ? { hook: deps.hook } : {}),
      ...(deps.limiter ? { limiter: deps.limiter } : {}),
      ...(config.userMessages ? { userMessages: config.userMessages } : {}),
    });
    const rules = { dedupeTtlS: config.dedupeTtlS, ...config.reactions };
    this.changes = new RoomChanges({ state: deps.state, store: deps.store, queue: deps.queue, path: this.path, gate: this.gate, metrics: deps.metrics, rules, ...(deps.tracer ? { tracer: deps.tracer } : {}) });
    this.typing = new Typing(
      { ttlMs: config.typingTtlS * 1000, throttleMs: config.typingThrottleMs },
      { publish: (room, event) => this.publish(room, event), onError: (err, room, user) => logger.error({ err, room, user }, 'typing push failed') },
    );
    this.presence = new RoomPresence({ presence: deps.presence, bus: deps.bus, delivery, logger, config, ...(deps.presenceHook ? { hook: deps.presenceHook } : {}) });
    this.local = new LocalRooms({ state: deps.state, bus: deps.bus, delivery, metrics: deps.metrics, logger, path: this.path, presence: this.presence });
  }

  start(): void {
    this.local.start();
    this.presence.start();
  }

  close(): void {
    this.local.close();
    this.typing.clear();
    this.presence.close();
  }

  /**
   * Joins (or, with `rejoin`, only answers again for) a room, when the join queue gives it a
   * turn. A failed first join is undone, so the connection is either a member with a reply or
   * not a member with an error.
   */
  join(conn: LocalConnection, room: string, opts: JoinOptions): Promise<JoinResult> {
    // Outside joinNow's undo: a join refused or cancelled before its turn changed nothing.
    return inSpan(this.deps.tracer, 'parley.join', SpanKind.SERVER, undefined, room, undefined, () =>
      this.deps.joins.run(conn.connId, () => this.joinNow(conn, room, opts), opts.cancelled),
    );
  }

  private async joinNow(conn: LocalConnection, room: string, opts: JoinOptions): Promise<JoinResult> {
    const { state, presence } = this.deps;
    const { since, epoch } = opts;
    const mode = opts.presence ?? 'each';
    if (!opts.rejoin) {
      const ban = await dependency('room state', () => this.deps.moderation.banned(room, conn.user, Date.now()));
      if (ban !== undefined) throw refusalError(room, { code: 'banned', until: ban });
    }
    try {
      if (!opts.rejoin) {
        // Published before this connection subscribes: the push is for the room's other members.
        await this.presence.join(room, conn.user, conn.connId);
        // Subscribed before the head is read, so no message falls between the reply and the pushes.
        conn.subscribe(room, mode);
        await this.local.add(room, conn.connId);
      } else {
        // The latest join's presence mode applies.
        conn.subscribe(room, mode);
      }
      const [head, held, occupancy] = await Promise.all([state.head(room), state.getRead(room, conn.user), presence.occupancy(room)]);
      const lastRead = held > 0 ? held : await this.restoreRead(room, conn.user);
      const recovery = await this.history.recover(room, head, since, epoch);
      return {
        room,
        epoch: head.epoch,
        head: head.head,
        lastRead,
        unread: Math.max(0, head.head - lastRead),
        occupancy,
        ...recovery,
      };
    } catch (err) {
      if (opts.rejoin) throw toDependencyError(err, 'room state');
      await this.leave(conn, room).catch((undo: unknown) =>
        this.deps.logger.error({ err: undo, room, user: conn.user }, 'undoing a failed join failed'),
      );
      throw toDependencyError(err, 'room state');
    }
  }

  async leave(conn: LocalConnection, room: string): Promise<void> {
    conn.unsubscribe(room);
    await this.local.remove(room, conn.connId);
    if (await this.presence.leave(room, conn.user, conn.connId)) await this.typing.end(room, conn.user, undefined);
  }

  /**
   * Sequences, makes durable, then delivers (docs/protocol.md, "Durability before acknowledgement"). The reply
   * comes only after the durable append. A dup is finished again too: the first attempt may have
   * been sequenced but never made durable or published (a call that failed or timed out, then
   * ran), and the queue and the feeds drop a copy they already have. With `checks` (a client's
   * send) the message passes the room's restrictions, the sender's rate and the publish hook
   * first (PublishGate); without (the admin API) it is appended as it is.
   */
  send(input: SendInput, checks?: SendChecks): Promise<SendResult> {
    if (input.parent !== undefined) {
      const { parent, ...rest } = input;
      return this.counted(this.changes.change({ ...rest, op: 'reply', target: parent }, checks));
    }
    return inSpan(this.deps.tracer, 'parley.send', SpanKind.SERVER, undefined, input.room, undefined, (trace) => this.counted(this.sendIn(input, trace, checks)));
  }

  /** Refusals of a client's message (the room's restrictions, its rate, the hook) are counted. */
  private counted<T>(work: Promise<T>): Promise<T> {
    return work.catch((err: unknown) => {
      if (err instanceof ParleyError && REFUSALS.has(err.code)) this.deps.metrics.sendRefused(err.code);
      throw err;
    });
  }

  private async sendIn(input: SendInput, trace: TraceContext | undefined, checks: SendChecks | undefined): Promise<SendResult> {
    const { state, queue, metrics, config, tracer } = this.deps;
    if (queue.full) throw new DependencyError('durable queue', 'the durable queue is full of messages not yet persisted, retry');
    const given = { ...input, ts: Date.now() };
    const screened = checks && this.gate.active ? await this.gate.screen(given, checks) : given;
    const result = await dependency('room state', () =>
      inSpan(tracer, 'parley.room_state.append', SpanKind.CLIENT, trace, input.room, undefined, () =>
        checks ? state.appendChecked(screened, config.dedupeTtlS, checks) : state.append(screened, config.dedupeTtlS),
      ),
    );
    if ('refused' in result) throw refusalError(input.room, result.refused);
    const m = result.message;
    if (trace) annotate(trace, { [ATTR.seq]: m.seq, [ATTR.dup]: result.dup });
    await dependency('durable queue', () => this.path.finish(m, result.epoch, trace ? { retry: true, trace } : { retry: true }));
    metrics.messageAccepted(result.dup);
    return { room: m.room, cid: m.cid, seq: m.seq, ts: m.ts, dup: result.dup };
  }

  /**
   * An edit, delete, reaction or removed reaction (docs/protocol.md, "Message changes"), with the
   * guarantees of `send`; with `checks` (a client's) what applies of the room's restrictions,
   * the rate and the hook, without (the admin API) none.
   */
  change(request: ChangeRequest, checks?: SendChecks): Promise<SendResult> {
    return this.counted(this.changes.change(request, checks));
  }

  /** Throttled (see Typing): a request over the throttle is answered like any other, without a push. */
  setTyping(conn: LocalConnection, room: string, on: boolean): Promise<void> {
    return this.typing.set(room, conn.user, conn.connId, on);
  }

  async read(conn: LocalConnection, room: string, seq: number): Promise<number> {
    const stored = await dependency('room state', () => this.deps.state.setRead(room, conn.user, seq));
    // Queued even when it did not move: a retry after a failed queueing must still reach the store.
    if (stored.seq > 0) await dependency('durable queue', () => this.deps.queue.publishRead({ room, user: conn.user, seq: stored.seq }));
    if (stored.moved) await this.publish(room, { kind: 'read', user: conn.user, seq: stored.seq, origin: conn.connId });
    return stored.seq;
  }

  /**
   * A pointer the room state does not hold (never set, or lost with Redis) comes back from the
   * store, into the state. A store that cannot answer costs the pointer, not the join.
   */
  private async restoreRead(room: string, user: string): Promise<number> {
    try {
      const stored = await this.deps.store.lastRead(room, user);
      return stored > 0 ? (await this.deps.state.setRead(room, user, stored)).seq : 0;
    } catch (err) {
      this.deps.logger.error({ err, room, user }, 'reading a stored read pointer failed');
      return 0;
    }
  }

  historyPage(room: string, anchor: PageAnchor, limit: number): Promise<HistoryPage> {
    return this.history.page(room, anchor, limit);
  }

  async presencePage(room: string, cursor: string | undefined, limit: number): Promise<{ room: string; occupancy: number; members: Member[]; next: string | null }> {
    const [occupancy, page] = await Promise.all([
      this.deps.presence.occupancy(room),
      this.deps.presence.members(room, cursor, limit),
    ]);
    return { room, occupancy, members: page.items, next: page.next };
  }

  /** Users (and their connections) online in the room, without reading the roster. */
  async occupancy(room: string): Promise<{ room: string } & OccupancyCounts> {
    return { room, ...(await dependency('presence', () => this.deps.presence.counts(room))) };
  }

  private publish(room: string, event: RoomEvent): Promise<void> {
    return this.deps.bus.publish(room, event);
  }
}

/** Refusals of a client's send counted in `parley_sends_refused_total`. */
const REFUSALS: ReadonlySet<string> = new Set(['banned', 'muted', 'slow_mode', 'user_rate_limited', 'rejected']);
