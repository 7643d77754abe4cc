import type { Member, Page } from '../types.js';
import { decodeKeyCursor, encodeKeyCursor } from './cursor.js';
import { DROP_NODE_LUA, EXPIRE_LUA, JOIN_LUA, LEAVE_LUA, MEMBERS_LUA, REGISTER_LUA } from './lua/presence.js';
import type { Presence, RoomOccupancy, UserPresence } from './presence.js';
import { asArray, asNumber, asString, defineScript, hashTag, type RedisScripting, type ScriptCall } from './redis-scripts.js';

/** What RedisPresence needs of an ioredis `Redis` or `Cluster`. */
export interface PresenceClient extends RedisScripting {
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  del(key: string): Promise<number>;
  exists(...keys: string[]): Promise<number>;
  sadd(key: string, member: string): Promise<number>;
  srem(key: string, member: string): Promise<number>;
  smembers(key: string): Promise<string[]>;
  scard(key: string): Promise<number>;
  zadd(key: string, nx: 'NX', score: number, member: string): Promise<unknown>;
  zrem(key: string, member: string): Promise<number>;
  zcard(key: string): Promise<number>;
  zrangebylex(key: string, min: string, max: string, limit: 'LIMIT', offset: number, count: number): Promise<string[]>;
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>;
  hdel(key: string, field: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hlen(key: string): Promise<number>;
}

export interface RedisPresenceOptions {
  /** Namespace of every key; must not contain `{` or `}`. */
  prefix: string;
  /** Unique per gateway process: its entries are reaped when it stops heartbeating. */
  nodeId: string;
  /** The heartbeat key lives this long; it is renewed every third of it. */
  nodeTtlS: number;
  /** A user left by a dead node stays listed at least this long after losing their last connection (default 0). */
  graceS?: number;
  /** Failures of the heartbeat and reaper timer (default: a process warning). */
  onError?: (err: unknown) => void;
}

export type ReapedListener = (room: string, user: string) => void;

const BATCH = 100;

/**
 * Presence in Redis for many gateway nodes. Entries are per connection and owned by the node
 * that made them; every node heartbeats `{P:n:<node>}:alive` and, on the same timer, reaps the
 * entries of nodes whose heartbeat expired, reporting through `onReaped` each (room, user) it
 * took offline so the room service can publish `offline`. The key layout is in
 * lua/presence.ts. Indexes that span hash tags are supersets: they are added to before the
 * entry they index exists and removed from after it is gone (removal then re-check), and
 * readers verify them, so a crash between two calls leaves nothing a reaper cannot finish.
 */
export class RedisPresence implements Presence {
  private readonly scripts: Record<'register' | 'join' | 'leave' | 'expire' | 'members' | 'drop', ScriptCall>;
  private readonly reapedListeners: ReapedListener[] = [];
  private readonly onError: (err: unknown) => void;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly client: PresenceClient,
    private readonly opts: RedisPresenceOptions,
  ) {
    if (/[{}]/.test(opts.prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.onError = opts.onError ?? ((err) => process.emitWarning(err instanceof Error ? err : String(err), 'RedisPresenceWarning'));
    this.scripts = {
      register: defineScript(client, 'parleyPresenceRegister', 1, REGISTER_LUA),
      join: defineScript(client, 'parleyPresenceJoin', 4, JOIN_LUA),
      leave: defineScript(client, 'parleyPresenceLeave', 2, LEAVE_LUA),
      expire: defineScript(client, 'parleyPresenceExpire', 3, EXPIRE_LUA),
      members: defineScript(client, 'parleyPresenceMembers', 3, MEMBERS_LUA),
      drop: defineScript(client, 'parleyPresenceDropNode', 4, DROP_NODE_LUA),
    };
  }

  /** Heartbeats once (so this node counts before it serves anyone), then every nodeTtlS / 3. */
  async start(): Promise<void> {
    if (this.timer || this.closing) return;
    await this.heartbeat();
    this.timer = setInterval(() => this.tick(), (this.opts.nodeTtlS * 1000) / 3).unref();
  }

  /** Stops the timer and removes this node's entries (its users in grace are left to the other nodes' reapers). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopHeartbeat();
      await this.round;
      const n = this.nodeKeys(this.opts.nodeId);
      await this.client.del(n.alive);
      await this.reapNode(this.opts.nodeId, Date.now());
    })();
    return this.closing;
  }

  /** Stops heartbeating and reaping without removing anything: a crash, as the other nodes see it. For tests. */
  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Called once per (room, user) a reaper took offline, on the node whose reaper did it. */
  onReaped(listener: ReapedListener): void {
    this.reapedListeners.push(listener);
  }

  async registerConnection(user: string, connId: string, max: number): Promise<boolean> {
    const entry = JSON.stringify([user, connId]);
    const nodeConns = this.nodeKeys(this.opts.nodeId).conns;
    await this.client.sadd(nodeConns, entry);
    const counted = asNumber(await this.scripts.register(this.userKeys(user).conns, connId, this.opts.nodeId, max), 'register') === 1;
    if (!counted) await this.client.srem(nodeConns, entry);
    return counted;
  }

  async unregisterConnection(user: string, connId: string): Promise<void> {
    await this.client.hdel(this.userKeys(user).conns, connId);
    await this.client.srem(this.nodeKeys(this.opts.nodeId).conns, JSON.stringify([user, connId]));
  }

  async join(room: string, user: string, connId: string, now: number): Promise<{ first: boolean }> {
    await this.client.sadd(this.nodeKeys(this.opts.nodeId).joins, JSON.stringify([room, user, connId]));
    const r = this.roomKeys(room);
    const first = asNumber(await this.scripts.join(r.m, r.since, r.dev, r.c, user, JSON.stringify([user, connId]), now, this.opts.nodeId), 'join') === 1;
    await Promise.all([this.client.sadd(this.userKeys(user).rooms, room), this.client.zadd(this.globalKeys().rooms, 'NX', 0, room)]);
    return { first };
  }

  async leave(room: string, user: string, connId: string, now: number): Promise<{ last: boolean }> {
    return { last: await this.leaveFor(this.opts.nodeId, room, user, connId, now) };
  }

  async expire(room: string, user: string): Promise<boolean> {
    const removed = await this.expireRoomUser(room, user);
    await this.client.zrem(this.nodeKeys(this.opts.nodeId).grace, JSON.stringify([room, user]));
    return removed;
  }

  occupancy(room: string): Promise<number> {
    return this.client.zcard(this.roomKeys(room).m);
  }

  async members(room: string, cursor: string | undefined, limit: number): Promise<Page<Member>> {
    const r = this.roomKeys(room);
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
    const names = await this.client.zrangebylex(this.globalKeys().rooms, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1);
    const page = names.slice(0, limit);
    const counts = await Promise.all(page.map((room) => this.occupancy(room)));
    // The active-rooms index is a superset: a room emptied by a crashed node may linger in it.
    const items = page.map((room, i) => ({ room, occupancy: counts[i] ?? 0 })).filter((r) => r.occupancy > 0);
    const last = page.at(-1);
    return { items, next: names.length > limit && last !== undefined ? encodeKeyCursor(last) : null };
  }

  async user(user: string): Promise<UserPresence> {
    const u = this.userKeys(user);
    const [devices, candidates] = await Promise.all([this.client.hlen(u.conns), this.client.smembers(u.rooms)]);
    const counts = await Promise.all(candidates.map((room) => this.client.hget(this.roomKeys(room).dev, user)));
    const rooms = candidates.filter((_, i) => Number(counts[i] ?? 0) > 0).sort();
    return { user, online: devices > 0, devices, rooms };
  }

  async stats(): Promise<{ connections: number; rooms: number; nodes: number }> {
    const g = this.globalKeys();
    const [nodes, rooms] = await Promise.all([this.client.smembers(g.nodes), this.client.zcard(g.rooms)]);
    const alive = await Promise.all(nodes.map((node) => this.client.exists(this.nodeKeys(node).alive)));
    const live = nodes.filter((_, i) => alive[i] === 1);
    const conns = await Promise.all(live.map((node) => this.client.scard(this.nodeKeys(node).conns)));
    return { connections: conns.reduce((a, b) => a + b, 0), rooms, nodes: live.length };
  }

  private tick(): void {
    if (this.round) return;
    this.round = this.heartbeat()
      .then(() => this.reapDead())
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.round = undefined;
      });
  }

  private async heartbeat(): Promise<void> {
    await this.client.set(this.nodeKeys(this.opts.nodeId).alive, this.opts.nodeId, 'PX', this.opts.nodeTtlS * 1000);
    await this.client.sadd(this.globalKeys().nodes, this.opts.nodeId);
  }

  /** Idempotent: every node runs it; each (room, user) is reported by the one whose script removed it. */
  private async reapDead(): Promise<void> {
    const now = Date.now();
    const nodes = await this.client.smembers(this.globalKeys().nodes);
    for (const node of nodes) {
      if (node === this.opts.nodeId) continue;
      if ((await this.client.exists(this.nodeKeys(node).alive)) === 0) await this.reapNode(node, now);
    }
    // Backstop for this node's own grace timers (a failed expire): overdue by a whole node TTL.
    await this.expireDue(this.opts.nodeId, now - this.opts.nodeTtlS * 1000);
  }

  private async reapNode(node: string, now: number): Promise<void> {
    const n = this.nodeKeys(node);
    await forEachBatch(await this.client.smembers(n.joins), async (entry) => {
      const [room, user, connId] = parseEntry(entry, 3);
      // Graced even when not last: a crash between a leave and its grace entry must not strand the user.
      await this.leaveFor(node, room, user, connId, now, true);
    });
    await forEachBatch(await this.client.smembers(n.conns), async (entry) => {
      const [user, connId] = parseEntry(entry, 2);
      await this.client.hdel(this.userKeys(user).conns, connId);
      await this.client.srem(n.conns, entry);
    });
    await this.expireDue(node, now);
    const registry = this.globalKeys().nodes;
    if (asNumber(await this.scripts.drop(n.alive, n.conns, n.joins, n.grace), 'drop') !== 1) return;
    await this.client.srem(registry, node);
    // Another reaper may have graced an entry after the drop: keep the node listed until that is done.
    if ((await this.client.exists(n.conns, n.joins, n.grace)) > 0) await this.client.sadd(registry, node);
  }

  private async leaveFor(node: string, room: string, user: string, connId: string, now: number, alwaysGrace = false): Promise<boolean> {
    const r = this.roomKeys(room);
    const n = this.nodeKeys(node);
    const last = asNumber(await this.scripts.leave(r.dev, r.c, user, JSON.stringify([user, connId])), 'leave') === 1;
    if (last || alwaysGrace) {
      await this.client.zadd(n.grace, 'NX', now + (this.opts.graceS ?? 0) * 1000, JSON.stringify([room, user]));
      if (node !== this.opts.nodeId) await this.client.sadd(this.globalKeys().nodes, node);
    }
    await this.client.srem(n.joins, JSON.stringify([room, user, connId]));
    if (last) {
      const rooms = this.userKeys(user).rooms;
      await this.client.srem(rooms, room);
      if (Number((await this.client.hget(r.dev, user)) ?? 0) > 0) await this.client.sadd(rooms, room);
    }
    return last;
  }

  private async expireDue(node: string, upTo: number): Promise<void> {
    const grace = this.nodeKeys(node).grace;
    await forEachBatch(await this.client.zrangebyscore(grace, '-inf', upTo), async (entry) => {
      const [room, user] = parseEntry(entry, 2);
      const removed = await this.expireRoomUser(room, user);
      await this.client.zrem(grace, entry);
      if (removed) this.report(room, user);
    });
  }

  private async expireRoomUser(room: string, user: string): Promise<boolean> {
    const r = this.roomKeys(room);
    const reply = asArray(await this.scripts.expire(r.m, r.since, r.dev, user), 'expire');
    const removed = asNumber(reply[0], 'expire') === 1;
    if (removed && asNumber(reply[1], 'expire') === 0) {
      const active = this.globalKeys().rooms;
      await this.client.zrem(active, room);
      if ((await this.occupancy(room)) > 0) await this.client.zadd(active, 'NX', 0, room);
    }
    return removed;
  }

  private report(room: string, user: string): void {
    for (const listener of this.reapedListeners) {
      try {
        listener(room, user);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private roomKeys(room: string) {
    const t = hashTag(this.opts.prefix, `r:${room}`);
    return { m: `${t}:m`, since: `${t}:since`, dev: `${t}:dev`, c: `${t}:c` };
  }

  private userKeys(user: string) {
    const t = hashTag(this.opts.prefix, `u:${user}`);
    return { conns: `${t}:conns`, rooms: `${t}:rooms` };
  }

  private nodeKeys(node: string) {
    const t = hashTag(this.opts.prefix, `n:${node}`);
    return { alive: `${t}:alive`, conns: `${t}:conns`, joins: `${t}:joins`, grace: `${t}:grace` };
  }

  private globalKeys() {
    const t = `{${this.opts.prefix}}`;
    return { nodes: `${t}:nodes`, rooms: `${t}:rooms` };
  }
}

function parseEntry(entry: string, size: 2): [string, string];
function parseEntry(entry: string, size: 3): [string, string, string];
function parseEntry(entry: string, size: number): string[] {
  const parts: unknown = JSON.parse(entry);
  if (!Array.isArray(parts) || parts.length !== size || !parts.every((p) => typeof p === 'string')) {
    throw new Error(`malformed presence index entry ${entry}`);
  }
  return parts;
}

async function forEachBatch(items: string[], fn: (item: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(fn));
}
