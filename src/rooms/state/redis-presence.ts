import type { Member, Page } from '../../domain/presence.js';
import { decodeKeyCursor, encodeKeyCursor } from './cursor.js';
import { COUNTS_LUA, MEMBERS_LUA } from './lua/presence.js';
import type { LocalConnections, OccupancyCounts, Presence, PresenceListener, RoomOccupancy, UserPresence } from './presence.js';
import { PresenceEntries, type PresenceClient } from './presence-entries.js';
import { PresenceHeartbeat } from './presence-heartbeat.js';
import { PresenceKeys } from './presence-keys.js';
import { PresenceReconciler } from './presence-reconciler.js';
import { asArray, asNumber, asString, defineScript, type ScriptCall } from './redis-scripts.js';

export type { PresenceClient } from './presence-entries.js';

export interface RedisPresenceOptions {
  /** Namespace of every key; must not contain `{` or `}`. */
  prefix: string;
  /** Unique per gateway process: its entries are reaped when it stops heartbeating. */
  nodeId: string;
  /** The heartbeat key lives this long; it is renewed every third of it. */
  nodeTtlS: number;
  /** A user left by a dead node stays listed at least this long after losing their last connection (default 0). */
  graceS?: number;
  /**
   * Failures of the heartbeat, reconciliation and reaper timer (default: a process warning):
   * the first of a run of failures, then at most one a minute while it lasts.
   */
  onError?: (err: unknown) => void;
  /** Called once for each dead node this node reaped (it held the node's reaper lock and found it listed). */
  onNodeReaped?: (node: string) => void;
}

/**
 * Presence in Redis for many gateway nodes. Entries are per connection and owned by the node
 * that made them; every node heartbeats `{P:n:<node>}:alive` and, on the same timer, reaps the
 * entries of nodes whose heartbeat expired, reporting through `onReaped` each (room, user) it
 * took offline so the room service can publish `offline`. The key layout is in
 * lua/presence.ts. Indexes that span hash tags are supersets: they are added to before the
 * entry they index exists and removed from after it is gone (removal then re-check), and
 * readers verify them, so a crash between two calls leaves nothing a reaper cannot finish.
 *
 * Eventually true (the port's guarantee): on the same timer, before reaping, a
 * PresenceReconciler brings this node's entries back to the connections `trackLocal` lists,
 * and a node whose heartbeat was found gone is renamed (PresenceHeartbeat).
 */
export class RedisPresence implements Presence {
  private readonly scripts: Record<'members' | 'counts', ScriptCall>;
  private readonly keys: PresenceKeys;
  private readonly entries: PresenceEntries;
  private readonly heartbeat: PresenceHeartbeat;
  private readonly reconciler: PresenceReconciler;
  private readonly reapedListeners: PresenceListener[] = [];
  private readonly restoredListeners: PresenceListener[] = [];
  private readonly onError: (err: unknown) => void;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly client: PresenceClient,
    opts: RedisPresenceOptions,
  ) {
    this.keys = new PresenceKeys(opts.prefix);
    this.entries = new PresenceEntries(client, this.keys, (opts.graceS ?? 0) * 1000);
    this.onError = opts.onError ?? ((err) => process.emitWarning(err instanceof Error ? err : String(err), 'RedisPresenceWarning'));
    this.scripts = {
      members: defineScript(client, 'parleyPresenceMembers', 3, MEMBERS_LUA),
      counts: defineScript(client, 'parleyPresenceCounts', 2, COUNTS_LUA),
    };
    this.heartbeat = new PresenceHeartbeat({
      client,
      keys: this.keys,
      entries: this.entries,
      // The reconciler is made next: it is only called once the heartbeat runs.
      reconciler: { diverge: () => this.reconciler.diverge(), check: () => this.reconciler.check() },
      nodeId: opts.nodeId,
      nodeTtlS: opts.nodeTtlS,
      onError: this.onError,
      reaped: (room, user) => this.report(this.reapedListeners, room, user),
      onNodeReaped: opts.onNodeReaped,
    });
    const own = this.entries;
    this.reconciler = new PresenceReconciler(
      {
        counts: () => own.counts(this.node),
        read: () => own.read(this.node),
        addConn: async (user, connId) => void (await own.register(this.node, user, connId, Infinity)),
        addJoin: (room, user, connId) => own.join(this.node, room, user, connId, Date.now()),
        removeConn: (user, connId) => own.unregister(this.node, user, connId, ''),
        removeJoin: async (room, user, connId) => {
          await own.leave(this.node, room, user, connId, Date.now(), { owner: '', alwaysGrace: true, self: this.node });
        },
      },
      (room, user) => this.report(this.restoredListeners, room, user),
    );
  }

  /** This process's name in Redis: NODE_ID, then a new NODE_ID~hex each time its heartbeat was found gone. */
  private get node(): string {
    return this.heartbeat.node;
  }

  /** Heartbeats once (so this node counts before it serves anyone), then every nodeTtlS / 3. */
  async start(): Promise<void> {
    if (this.heartbeat.running || this.closing) return;
    await this.heartbeat.start();
  }

  /** Stops the timer and removes this node's entries (its users in grace are left to the other nodes' reapers). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopHeartbeat();
      await this.heartbeat.idle();
      await this.client.del(this.keys.node(this.node).alive);
      await this.entries.reapNode(this.node, Date.now(), this.node, (room, user) => this.report(this.reapedListeners, room, user));
    })();
    return this.closing;
  }

  /**
   * Stops heartbeating and reaping without removing anything: a crash as the other nodes see
   * it, or, followed later by `start()`, a pause (SIGSTOP). For tests.
   */
  stopHeartbeat(): void {
    this.heartbeat.stop();
  }

  trackLocal(connections: LocalConnections): void {
    this.reconciler.track(connections);
  }

  /** Called once per (room, user) a reaper took offline, on the node whose reaper did it. */
  onReaped(listener: PresenceListener): void {
    this.reapedListeners.push(listener);
  }

  /** Called once per (room, user) this node's reconciliation brought back online. */
  onRestored(listener: PresenceListener): void {
    this.restoredListeners.push(listener);
  }

  registerConnection(user: string, connId: string, max: number): Promise<boolean> {
    this.reconciler.touch(connId);
    return this.watched(async () => {
      const counted = await this.entries.register(this.node, user, connId, max);
      if (counted) this.reconciler.registered(user, connId);
      return counted;
    });
  }

  unregisterConnection(user: string, connId: string): Promise<void> {
    this.reconciler.released(connId);
    return this.watched(() => this.entries.unregister(this.node, user, connId, ''));
  }

  join(room: string, user: string, connId: string, now: number): Promise<{ first: boolean }> {
    this.reconciler.touch(connId);
    return this.watched(async () => ({ first: await this.entries.join(this.node, room, user, connId, now) }));
  }

  leave(room: string, user: string, connId: string, now: number): Promise<{ last: boolean }> {
    this.reconciler.touch(connId);
    const opts = { owner: '', alwaysGrace: false, self: this.node };
    return this.watched(async () => ({ last: await this.entries.leave(this.node, room, user, connId, now, opts) }));
  }

  async expire(room: string, user: string): Promise<boolean> {
    const removed = await this.entries.expire(room, user);
    await this.client.zrem(this.keys.node(this.node).grace, JSON.stringify([room, user]));
    return removed;
  }

  occupancy(room: string): Promise<number> {
    return this.client.zcard(this.keys.room(room).m);
  }

  async counts(room: string): Promise<OccupancyCounts> {
    const r = this.keys.room(room);
    const reply = asArray(await this.scripts.counts(r.m, r.c), 'counts');
    return { users: asNumber(reply[0], 'counts'), devices: asNumber(reply[1], 'counts') };
  }

  async members(room: string, cursor: string | undefined, limit: number): Promise<Page<Member>> {
    const r = this.keys.room(room);
    const after = decodeKeyCursor(cursor);
    const reply = asArray(await this.scripts.members(r.m, r.since, r.dev, after === undefined ? '-' : `(${after}`, limit), 'members');
    const flat = asArray(reply[1], 'members');
    const items: Member[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const since = new Date(asNumber(flat[i + 1], 'members')).toISOString();
      items.push({ user: asString(flat[i], 'members'), devices: asNumber(flat[i + 2], 'members'), since });
    }
    const last = items.at(-1);
    return { items, next: asNumber(reply[0], 'members') === 1 && last ? encodeKeyCursor(last.user) : null };
  }

  async rooms(cursor: string | undefined, limit: number): Promise<Page<RoomOccupancy>> {
    const after = decodeKeyCursor(cursor);
    const names = await this.client.zrangebylex(this.keys.global().rooms, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1);
    const page = names.slice(0, limit);
    const counts = await Promise.all(page.map((room) => this.occupancy(room)));
    // The active-rooms index is a superset: a room emptied by a crashed node may linger in it.
    const items = page.map((room, i) => ({ room, occupancy: counts[i] ?? 0 })).filter((r) => r.occupancy > 0);
    const last = page.at(-1);
    return { items, next: names.length > limit && last !== undefined ? encodeKeyCursor(last) : null };
  }

  async user(user: string): Promise<UserPresence> {
    const u = this.keys.user(user);
    const [devices, candidates] = await Promise.all([this.client.hlen(u.conns), this.client.smembers(u.rooms)]);
    const counts = await Promise.all(candidates.map((room) => this.client.hget(this.keys.room(room).dev, user)));
    const rooms = candidates.filter((_, i) => Number(counts[i] ?? 0) > 0).sort();
    return { user, online: devices > 0, devices, rooms };
  }

  async stats(): Promise<{ connections: number; rooms: number; nodes: number }> {
    const g = this.keys.global();
    const [nodes, rooms] = await Promise.all([this.client.smembers(g.nodes), this.client.zcard(g.rooms)]);
    const alive = await Promise.all(nodes.map((node) => this.client.exists(this.keys.node(node).alive)));
    const live = nodes.filter((_, i) => alive[i] === 1);
    const conns = await Promise.all(live.map((node) => this.client.scard(this.keys.node(node).conns)));
    return { connections: conns.reduce((a, b) => a + b, 0), rooms, nodes: live.length };
  }

  /** A call that failed may have been applied in part: the next heartbeat compares every entry. */
  private async watched<T>(call: () => Promise<T>): Promise<T> {
    this.reconciler.started();
    try {
      return await call();
    } catch (err) {
      this.reconciler.diverge();
      throw err;
    } finally {
      this.reconciler.settled();
    }
  }

  private report(listeners: PresenceListener[], room: string, user: string): void {
    for (const listener of listeners) {
      try {
        listener(room, user);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
