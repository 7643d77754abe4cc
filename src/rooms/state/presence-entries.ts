import { DROP_NODE_LUA, EXPIRE_LUA, JOIN_LUA, LEAVE_LUA, LEAVE_MANY_LUA, REGISTER_LUA, UNREGISTER_OWNED_LUA } from './lua/presence.js';
import type { PresenceListener } from './presence.js';
import { connEntry, forEachBatch, joinEntry, parseEntry, type PresenceKeys } from './presence-keys.js';
import { asArray, asNumber, defineScript, defineVariadicScript, type RedisScripting, type ScriptCall, type VariadicScriptCall } from './redis-scripts.js';

/** What RedisPresence needs of an ioredis `Redis` or `Cluster`. */
export interface PresenceClient extends RedisScripting {
  del(key: string): Promise<number>;
  exists(...keys: string[]): Promise<number>;
  sadd(key: string, member: string): Promise<number>;
  srem(key: string, ...members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  sscan(key: string, cursor: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  scard(key: string): Promise<number>;
  zadd(key: string, nx: 'NX', ...scoreMembers: (number | string)[]): Promise<unknown>;
  zrem(key: string, member: string): Promise<number>;
  zcard(key: string): Promise<number>;
  zrangebylex(key: string, min: string, max: string, limit: 'LIMIT', offset: number, count: number): Promise<string[]>;
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>;
  hset(key: string, field: string, value: string): Promise<number>;
  hdel(key: string, field: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hlen(key: string): Promise<number>;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  sismember(key: string, member: string): Promise<number>;
}

const SCAN_COUNT = 1000;

/**
 * The writes of RedisPresence on one node's entries, shared by its calls, its reconciler and
 * its reaper. `node` names the owner: a node writes as itself; a reaper removes as the dead
 * node, and then only what that node still owns (another may have taken an entry over).
 */
export class PresenceEntries {
  private readonly scripts: Record<'register' | 'unregisterOwned' | 'join' | 'leave' | 'expire' | 'drop', ScriptCall>;
  private readonly leaveMany: VariadicScriptCall;

  constructor(
    private readonly client: PresenceClient,
    private readonly keys: PresenceKeys,
    private readonly graceMs: number,
  ) {
    this.scripts = {
      register: defineScript(client, 'parleyPresenceRegister', 1, REGISTER_LUA),
      unregisterOwned: defineScript(client, 'parleyPresenceUnregisterOwned', 1, UNREGISTER_OWNED_LUA),
      join: defineScript(client, 'parleyPresenceJoin', 4, JOIN_LUA),
      leave: defineScript(client, 'parleyPresenceLeave', 2, LEAVE_LUA),
      expire: defineScript(client, 'parleyPresenceExpire', 3, EXPIRE_LUA),
      drop: defineScript(client, 'parleyPresenceDropNode', 4, DROP_NODE_LUA),
    };
    this.leaveMany = defineVariadicScript(client, 'parleyPresenceLeaveMany', LEAVE_MANY_LUA);
  }

  /** Counts the connection unless the user has `max` already (Infinity: counted again whatever the cap). */
  async register(node: string, user: string, connId: string, max: number): Promise<boolean> {
    const index = this.keys.node(node).conns;
    const entry = connEntry(user, connId);
    await this.client.sadd(index, entry);
    const conns = this.keys.user(user).conns;
    if (max === Infinity) {
      await this.client.hset(conns, connId, node);
      return true;
    }
    if (asNumber(await this.scripts.register(conns, connId, node, max), 'register') === 1) return true;
    await this.client.srem(index, entry);
    return false;
  }

  /** `owner`: remove only while that node owns the connection ('' for the node's own calls). */
  async unregister(node: string, user: string, connId: string, owner: string): Promise<void> {
    const conns = this.keys.user(user).conns;
    if (owner === '') await this.client.hdel(conns, connId);
    else await this.scripts.unregisterOwned(conns, connId, owner);
    await this.client.srem(this.keys.node(node).conns, connEntry(user, connId));
  }

  /** Joins as `node`, taking the entry over; true when the user was not online in the room. */
  async join(node: string, room: string, user: string, connId: string, now: number): Promise<boolean> {
    await this.client.sadd(this.keys.node(node).joins, joinEntry(room, user, connId));
    const r = this.keys.room(room);
    const first = asNumber(await this.scripts.join(r.m, r.since, r.dev, r.c, user, connEntry(user, connId), now, node), 'join') === 1;
    await Promise.all([this.client.sadd(this.keys.user(user).rooms, room), this.client.zadd(this.keys.global().rooms, 'NX', 0, room)]);
    return first;
  }

  /**
   * Leaves `node`'s entry; true when it was the user's last connection in the room, who then
   * gets a grace entry in `node`'s grace set (with `alwaysGrace` even when not last: a crash
   * between a leave and its grace entry must not strand the user).
   */
  async leave(node: string, room: string, user: string, connId: string, now: number, opts: { owner: string; alwaysGrace: boolean; self: string }): Promise<boolean> {
    const r = this.keys.room(room);
    const n = this.keys.node(node);
    const last = asNumber(await this.scripts.leave(r.dev, r.c, user, connEntry(user, connId), opts.owner), 'leave') === 1;
    if (last || opts.alwaysGrace) {
      await this.client.zadd(n.grace, 'NX', now + this.graceMs, JSON.stringify([room, user]));
      if (node !== opts.self) await this.client.sadd(this.keys.global().nodes, node);
    }
    await this.client.srem(n.joins, joinEntry(room, user, connId));
    if (last) await this.dropUserRoom(room, user);
    return last;
  }

  /** The user's last connection left `room`: the room leaves their index unless one came back meanwhile. */
  private async dropUserRoom(room: string, user: string): Promise<void> {
    const rooms = this.keys.user(user).rooms;
    await this.client.srem(rooms, room);
    if (Number((await this.client.hget(this.keys.room(room).dev, user)) ?? 0) > 0) await this.client.sadd(rooms, room);
  }

  /**
   * Removes what `node` (not alive) still owns, reporting each (room, user) taken offline, and
   * forgets the node once nothing is left. `self` is the reaping node. A page of entries costs
   * one call per room it names plus a few per page, not several per entry: a node lost in a
   * reconnect storm is reaped while its clients rejoin elsewhere.
   */
  async reapNode(node: string, now: number, self: string, reaped: PresenceListener): Promise<void> {
    const n = this.keys.node(node);
    // A page at a time: a dead node with many entries is never read whole (SSCAN returns each
    // entry present throughout the scan; those removed meanwhile are done already).
    await this.scanPages(n.joins, (entries) => this.reapJoins(node, entries, now, self));
    await this.scanPages(n.conns, async (entries) => {
      await forEachBatch(entries, async (entry) => {
        const [user, connId] = parseEntry(entry, 2);
        await this.scripts.unregisterOwned(this.keys.user(user).conns, connId, node);
      });
      await this.client.srem(n.conns, ...entries);
    });
    await this.expireDue(node, now, reaped);
    const registry = this.keys.global().nodes;
    if (asNumber(await this.scripts.drop(n.alive, n.conns, n.joins, n.grace), 'drop') !== 1) return;
    await this.client.srem(registry, node);
    // Another reaper may have graced an entry after the drop: keep the node listed until that is done.
    if ((await this.client.exists(n.conns, n.joins, n.grace)) > 0) await this.client.sadd(registry, node);
  }

  /**
   * `leave` of a page of the dead `node`'s join entries, owned by it, with a grace entry each.
   * The grace entries are written before the leaves: a reaper that dies between the two leaves
   * a grace entry for a user still connected (expiring it then changes nothing), never a user
   * left online with no connection and nothing to expire them.
   */
  private async reapJoins(node: string, entries: readonly string[], now: number, self: string): Promise<void> {
    const n = this.keys.node(node);
    const byRoom = new Map<string, [user: string, connId: string][]>();
    const grace: (number | string)[] = [];
    for (const entry of entries) {
      const [room, user, connId] = parseEntry(entry, 3);
      const list = byRoom.get(room);
      if (list) list.push([user, connId]);
      else byRoom.set(room, [[user, connId]]);
      grace.push(now + this.graceMs, JSON.stringify([room, user]));
    }
    await this.client.zadd(n.grace, 'NX', ...grace);
    if (node !== self) await this.client.sadd(this.keys.global().nodes, node);
    const last: [room: string, user: string][] = [];
    await forEachBatch(byRoom, async ([room, conns]) => {
      const r = this.keys.room(room);
      const flags = asArray(await this.leaveMany([r.dev, r.c], [node, ...conns.flatMap(([user, connId]) => [user, connEntry(user, connId)])]), 'leave many');
      conns.forEach(([user], i) => {
        if (asNumber(flags[i], 'leave many') === 1) last.push([room, user]);
      });
    });
    await this.client.srem(n.joins, ...entries);
    await forEachBatch(last, ([room, user]) => this.dropUserRoom(room, user));
  }

  /** Expires the users of `node`'s grace set due by `upTo`, reporting those it removed. */
  async expireDue(node: string, upTo: number, reaped: PresenceListener): Promise<void> {
    const grace = this.keys.node(node).grace;
    await forEachBatch(await this.client.zrangebyscore(grace, '-inf', upTo), async (entry) => {
      const [room, user] = parseEntry(entry, 2);
      const removed = await this.expire(room, user);
      await this.client.zrem(grace, entry);
      if (removed) reaped(room, user);
    });
  }

  async expire(room: string, user: string): Promise<boolean> {
    const r = this.keys.room(room);
    const reply = asArray(await this.scripts.expire(r.m, r.since, r.dev, user), 'expire');
    const removed = asNumber(reply[0], 'expire') === 1;
    if (removed && asNumber(reply[1], 'expire') === 0) {
      const active = this.keys.global().rooms;
      await this.client.zrem(active, room);
      if ((await this.client.zcard(r.m)) > 0) await this.client.zadd(active, 'NX', 0, room);
    }
    return removed;
  }

  /** Sizes of `node`'s index sets. */
  async counts(node: string): Promise<{ conns: number; joins: number }> {
    const n = this.keys.node(node);
    const [conns, joins] = await Promise.all([this.client.scard(n.conns), this.client.scard(n.joins)]);
    return { conns, joins };
  }

  /** Every entry of `node`'s index sets, read with SSCAN so a big node does not block Redis. */
  async read(node: string): Promise<{ conns: Set<string>; joins: Set<string> }> {
    const n = this.keys.node(node);
    const [conns, joins] = await Promise.all([this.scan(n.conns), this.scan(n.joins)]);
    return { conns, joins };
  }

  private async scan(key: string): Promise<Set<string>> {
    const found = new Set<string>();
    await this.scanPages(key, (items) => {
      for (const item of items) found.add(item);
      return Promise.resolve();
    });
    return found;
  }

  /** Hands each SSCAN page of `key` to `page`, reading the next one only once it is done. */
  private async scanPages(key: string, page: (items: string[]) => Promise<void>): Promise<void> {
    let cursor = '0';
    do {
      const [next, items] = await this.client.sscan(key, cursor, 'COUNT', SCAN_COUNT);
      if (items.length > 0) await page(items);
      cursor = next;
    } while (cursor !== '0');
  }
}
