import type { Logger } from 'pino';
import type { Broadcast } from '../bus/broadcast.js';
import type { DurableQueue } from '../bus/durable-queue.js';
import type { MessageStore } from '../persistence/message-store.js';
import { DependencyError, ParleyError } from '../shared/errors.js';
import { History } from './history.js';
import type { LocalConnection, LocalDelivery, RoomMetrics, RoomsConfig } from './ports.js';
import { RoomFeed } from './room-feed.js';
import type { Presence } from './state/presence.js';
import type { RoomState } from './state/room-state.js';
import { TimerSet } from './timer-set.js';
import type { ChatMessage, Member, RoomEvent } from './types.js';

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
}

export interface JoinResult {
  room: string;
  epoch: string;
  head: number;
  lastRead: number;
  unread: number;
  occupancy: number;
  messages: ChatMessage[];
  recovered: boolean;
}

export interface SendInput {
  room: string;
  from: string;
  cid: string;
  body: string;
  meta?: Record<string, unknown>;
}

export interface SendResult {
  room: string;
  cid: string;
  seq: number;
  ts: number;
  dup: boolean;
}

interface LocalRoom {
  members: Set<string>;
  feed: RoomFeed;
  /** Settles once the bus subscription and the feed's starting head are in place. */
  ready: Promise<void>;
}

/**
 * The room semantics of PROTOCOL.md, transport-neutral: sessions of both transports and the
 * admin API call this. It keeps this node's local membership (for interest-based bus
 * subscriptions), orders incoming messages per room, and runs typing and presence timers.
 */
export class RoomService {
  private readonly local = new Map<string, LocalRoom>();
  private readonly typing: TimerSet;
  private readonly grace: TimerSet;
  private readonly history: History;

  constructor(private readonly deps: RoomDeps) {
    this.history = new History(deps.state, deps.store);
    this.typing = new TimerSet((err, k) => deps.logger.error({ err, key: k }, 'typing timeout push failed'));
    this.grace = new TimerSet((err, k) => deps.logger.error({ err, key: k }, 'presence grace expiry failed'));
  }

  start(): void {
    this.deps.bus.onRoomEvent((room, event) => this.onBusEvent(room, event));
    this.deps.presence.onReaped((room, user) => {
      this.publish(room, { kind: 'presence', user, status: 'offline' }).catch((err: unknown) =>
        this.deps.logger.error({ err, room, user }, 'publishing offline for a reaped user failed'),
      );
    });
  }

  close(): void {
    this.typing.clear();
    this.grace.clear();
    for (const r of this.local.values()) r.feed.close();
    this.local.clear();
  }

  /**
   * Joins (or, with `rejoin`, only answers again for) a room. A failed first join is undone,
   * so the connection is either a member with a reply or not a member with an error.
   */
  async join(conn: LocalConnection, room: string, opts: { since?: number; epoch?: string; rejoin: boolean }): Promise<JoinResult> {
    const { state, presence } = this.deps;
    const { since, epoch } = opts;
    try {
      if (!opts.rejoin) {
        this.grace.cancel(key(room, conn.user));
        const { first } = await presence.join(room, conn.user, conn.connId, Date.now());
        // Published before this connection subscribes: the push is for the room's other members.
        if (first) await this.publish(room, { kind: 'presence', user: conn.user, status: 'online' });
        // Subscribed before the head is read, so no message falls between the reply and the pushes.
        conn.subscribe(room);
        await this.addLocal(room, conn.connId);
      }
      const [head, held, occupancy] = await Promise.all([state.head(room), state.getRead(room, conn.user), presence.occupancy(room)]);
      const lastRead = held > 0 ? held : await this.restoreRead(room, conn.user);
      const recovery = await this.history.recover(room, head, since, epoch, this.deps.config.recoveryMax);
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
    await this.removeLocal(room, conn.connId);
    const { last } = await this.deps.presence.leave(room, conn.user, conn.connId, Date.now());
    if (!last) return;
    const k = key(room, conn.user);
    if (this.typing.cancel(k)) await this.publish(room, { kind: 'typing', user: conn.user, on: false });
    this.grace.schedule(k, this.deps.config.presenceGraceS * 1000, () => this.expirePresence(room, conn.user));
  }

  async send(input: SendInput): Promise<SendResult> {
    const { state, queue, metrics, config } = this.deps;
    const result = await dependency('room state', () =>
      state.append({ ...input, ts: Date.now() }, config.dedupeTtlS),
    );
    const m = result.message;
    // Fan-out is at-most-once: a lost publish is healed by the receivers' feeds, so it must not fail the send.
    // A dup is re-published too: the first attempt may have been sequenced but never published (a call that
    // timed out, then ran in Redis), and nothing else would reveal it; feeds drop a seq they already delivered.
    this.publish(m.room, { kind: 'msg', message: m, epoch: result.epoch }).catch((err: unknown) =>
      this.deps.logger.error({ err, room: m.room, seq: m.seq }, 'broadcast publish failed'),
    );
    // A dup is re-queued too: the first attempt may have been sequenced but never made durable.
    await dependency('durable queue', () => queue.publish(m, result.epoch));
    metrics.messageAccepted(result.dup);
    return { room: m.room, cid: m.cid, seq: m.seq, ts: m.ts, dup: result.dup };
  }

  async setTyping(conn: LocalConnection, room: string, on: boolean): Promise<void> {
    const k = key(room, conn.user);
    if (on) {
      // Like the `on:true` it ends, the push is for the other members: not the typing connection.
      this.typing.schedule(k, this.deps.config.typingTtlS * 1000, () =>
        this.publish(room, { kind: 'typing', user: conn.user, on: false, origin: conn.connId }),
      );
    } else {
      this.typing.cancel(k);
    }
    await this.publish(room, { kind: 'typing', user: conn.user, on, origin: conn.connId });
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

  historyPage(room: string, before: number | undefined, limit: number): Promise<{ room: string; messages: ChatMessage[]; more: boolean }> {
    return this.history.page(room, before, limit);
  }

  async presencePage(room: string, cursor: string | undefined, limit: number): Promise<{ room: string; occupancy: number; members: Member[]; next: string | null }> {
    const [occupancy, page] = await Promise.all([
      this.deps.presence.occupancy(room),
      this.deps.presence.members(room, cursor, limit),
    ]);
    return { room, occupancy, members: page.items, next: page.next };
  }

  private async addLocal(room: string, connId: string): Promise<void> {
    const existing = this.local.get(room);
    if (existing) {
      existing.members.add(connId);
      return existing.ready;
    }
    const feed = new RoomFeed(
      (message) => this.deps.delivery.deliver(room, { kind: 'msg', message }),
      async (from, to) => {
        this.deps.metrics.gapHealed(room);
        return this.history.range(room, from, to);
      },
      (err) => this.deps.logger.error({ err, room }, 'healing a gap in the room feed failed'),
      () => {
        this.deps.logger.warn({ room }, 'the room state was lost and its seqs started again: members must rejoin');
        this.deps.delivery.roomReset(room);
      },
    );
    const ready = (async () => {
      await this.deps.bus.subscribe(room);
      const head = await this.deps.state.head(room);
      feed.init(head.epoch, head.head);
    })();
    const entry: LocalRoom = { members: new Set([connId]), feed, ready };
    this.local.set(room, entry);
    try {
      await ready;
    } catch (err) {
      if (this.local.get(room) === entry) this.local.delete(room);
      feed.close();
      throw new DependencyError('broadcast', 'could not subscribe to the room', { cause: err });
    }
  }

  private async removeLocal(room: string, connId: string): Promise<void> {
    const entry = this.local.get(room);
    if (!entry?.members.delete(connId) || entry.members.size > 0) return;
    this.local.delete(room);
    entry.feed.close();
    await this.deps.bus.unsubscribe(room);
  }

  private onBusEvent(room: string, event: RoomEvent): void {
    const entry = this.local.get(room);
    if (!entry) return;
    if (event.kind === 'msg') entry.feed.push(event.message, event.epoch);
    else this.deps.delivery.deliver(room, event);
  }

  private async expirePresence(room: string, user: string): Promise<void> {
    if (await this.deps.presence.expire(room, user)) {
      await this.publish(room, { kind: 'presence', user, status: 'offline' });
    }
  }

  private publish(room: string, event: RoomEvent): Promise<void> {
    return this.deps.bus.publish(room, event);
  }
}

function key(room: string, user: string): string {
  return `${room}\u0000${user}`;
}

function toDependencyError(err: unknown, name: string): ParleyError {
  if (err instanceof ParleyError) return err;
  return new DependencyError(name, `${name} is unavailable, retry`, { cause: err });
}

async function dependency<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toDependencyError(err, name);
  }
}
