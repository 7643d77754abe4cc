// RedisPresence is eventually true (docs/protocol.md, "Presence is eventually true"): after calls
// that failed, a node that was reaped while paused, a reaper racing the node's return, Redis
// losing the keys, a room left without a presence call, and a process that died under the
// same NODE_ID, the node's entries come back to its open connections. Shared Redis, a prefix
// per test; faults are injected in the client the adapter talks through.
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalConnections, OpenConnection } from '../../src/rooms/state/presence.js';
import { RedisPresence } from '../../src/rooms/state/redis-presence.js';
import { requireRedis, uniquePrefix } from '../helpers/services.js';
import { deleteKeys, tagCheckedClient } from './redis-support.js';
import { until } from './room-state.contract.js';

/** 1 s: a heartbeat every 333 ms, so each wait below is a few beats. */
const TTL_S = 1;
const WAIT_MS = 10_000;

let raw: Redis;
let client: Redis;
/** Undone after each test, last first: its presences close, then its keys go. */
const undo: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await requireRedis();
  raw = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  client = tagCheckedClient(raw);
  return async () => void (await raw.quit());
});
afterEach(async () => {
  for (const step of undo.splice(0).reverse()) await step();
});

/** A node's open connections, as the gateway's session registry would list them. */
class Local implements LocalConnections {
  private readonly conns = new Map<string, { connId: string; user: string; joined: Map<string, true> }>();

  all(): Iterable<OpenConnection> {
    return this.conns.values();
  }

  has(connId: string): boolean {
    return this.conns.has(connId);
  }

  open(user: string, connId: string, ...rooms: string[]): void {
    this.conns.set(connId, { connId, user, joined: new Map(rooms.map((r) => [r, true])) });
  }

  leave(connId: string, room: string): void {
    this.conns.get(connId)?.joined.delete(room);
  }

  close(connId: string): void {
    this.conns.delete(connId);
  }
}

/** A client whose every command and script fails while `down` is set: Redis out of reach. */
function failable(target: Redis): { client: Redis; down: boolean } {
  const state = { client: target, down: false };
  state.client = new Proxy(target, {
    get(t, prop, receiver) {
      const value: unknown = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function' || prop === 'defineCommand') return value;
      return (...args: unknown[]) =>
        state.down ? Promise.reject(new Error('injected: Redis is out of reach')) : (value as (...a: unknown[]) => unknown).apply(t, args);
    },
  });
  return state;
}

interface Node {
  presence: RedisPresence;
  local: Local;
  reaped: string[];
  restored: string[];
  errors: string[];
}

async function startNode(prefix: string, nodeId: string, via: Redis = client, graceS = 0): Promise<Node> {
  const errors: string[] = [];
  const presence = new RedisPresence(via, { prefix, nodeId, nodeTtlS: TTL_S, graceS, onError: (err) => errors.push(String(err)) });
  undo.push(() => presence.close());
  const node = { presence, local: new Local(), reaped: [] as string[], restored: [] as string[], errors };
  presence.trackLocal(node.local);
  presence.onReaped((room, user) => node.reaped.push(`${room}/${user}`));
  presence.onRestored((room, user) => node.restored.push(`${room}/${user}`));
  await presence.start();
  return node;
}

function newPrefix(name: string): string {
  const prefix = uniquePrefix(name);
  undo.push(() => deleteKeys(raw, `{${prefix}*`));
  return prefix;
}

/** Registers, joins and lists a connection the way a gateway opens one. */
async function connect(node: Node, user: string, connId: string, ...rooms: string[]): Promise<void> {
  expect(await node.presence.registerConnection(user, connId, 10)).toBe(true);
  node.local.open(user, connId, ...rooms);
  for (const room of rooms) await node.presence.join(room, user, connId, Date.now());
}

async function devicesIn(presence: RedisPresence, room: string): Promise<Record<string, number>> {
  const page = await presence.members(room, undefined, 100);
  return Object.fromEntries(page.items.map((m) => [m.user, m.devices]));
}

describe('redis presence: eventually true', () => {
  it('a leave and an unregister that failed are finished by the heartbeats: the user goes offline and frees their slots', async () => {
    const redis = failable(client);
    const a = await startNode(newPrefix('failed'), 'node-a', redis.client);
    await connect(a, 'alice', 'a1', 'r');
    await connect(a, 'alice', 'a2', 'r');
    expect(await a.presence.registerConnection('alice', 'a3', 2)).toBe(false);

    redis.down = true;
    for (const connId of ['a1', 'a2']) {
      a.local.close(connId);
      await expect(a.presence.leave('r', 'alice', connId, Date.now())).rejects.toThrow(/injected/);
      await expect(a.presence.unregisterConnection('alice', connId)).rejects.toThrow(/injected/);
    }
    redis.down = false;

    await until(async () => !(await a.presence.user('alice')).online, WAIT_MS, 'alice to go offline');
    await until(() => Promise.resolve(a.reaped.includes('r/alice')), WAIT_MS, 'alice to leave the roster of r');
    expect(await a.presence.occupancy('r')).toBe(0);
    expect(await a.presence.registerConnection('alice', 'a3', 2)).toBe(true);
    expect(await a.presence.registerConnection('alice', 'a4', 2)).toBe(true);
    expect(await a.presence.stats()).toMatchObject({ connections: 2, nodes: 1 });
  });

  it('a room left without a presence call (a failure on the way there) stops counting its connection', async () => {
    const a = await startNode(newPrefix('unleft'), 'node-a');
    await connect(a, 'bea', 'b1', 'r1', 'r2');
    a.local.leave('b1', 'r1');
    await until(() => Promise.resolve(a.reaped.includes('r1/bea')), WAIT_MS, 'bea to leave the roster of r1');
    expect(await a.presence.user('bea')).toEqual({ user: 'bea', online: true, devices: 1, rooms: ['r2'] });
    expect(a.restored).toEqual([]);
  });

  it('a node reaped while paused counts its open connections again, and the cap with them', async () => {
    const prefix = newPrefix('paused');
    const a = await startNode(prefix, 'node-a');
    const b = await startNode(prefix, 'node-b');
    await connect(a, 'bob', 'b1', 'r');
    await connect(a, 'bob', 'b2', 'r');
    await connect(b, 'cat', 'c1', 'r');

    a.presence.stopHeartbeat();
    await until(() => Promise.resolve(b.reaped.includes('r/bob')), WAIT_MS, 'node-b to reap bob');
    expect((await b.presence.user('bob')).devices).toBe(0);

    await a.presence.start(); // SIGCONT: its first heartbeat finds its key gone
    await until(() => Promise.resolve(a.restored.includes('r/bob')), WAIT_MS, 'node-a to count bob again');
    expect(await b.presence.user('bob')).toEqual({ user: 'bob', online: true, devices: 2, rooms: ['r'] });
    expect(await devicesIn(b.presence, 'r')).toEqual({ bob: 2, cat: 1 });
    expect(await b.presence.registerConnection('bob', 'b3', 2)).toBe(false);
    expect(a.errors.join('\n')).toMatch(/heartbeat of node-a was gone/);
    // The old name is reaped and forgotten; the renamed node counts once.
    await until(async () => (await raw.sismember(`{${prefix}}:nodes`, 'node-a')) === 0, WAIT_MS, 'the old name to be reaped');
    expect(await b.presence.stats()).toEqual({ connections: 3, rooms: 1, nodes: 2 });
    expect(b.reaped).toEqual(['r/bob']);
  });

  it("entries taken over after a reaper read the dead node's index survive the reap", async () => {
    const prefix = newPrefix('midreap');
    const a = await startNode(prefix, 'node-a');
    await connect(a, 'dan', 'd1', 'r');
    // node-b's reaper stops right after reading (the first page of) node-a's joins, until released.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let read = false;
    // Rounds of node-b's timer started after the release: the next one starts once the reap is over.
    let roundsAfter = 0;
    const gated = new Proxy(client, {
      get(t, prop, receiver) {
        const value: unknown = Reflect.get(t, prop, receiver);
        if ((prop !== 'smembers' && prop !== 'sscan') || typeof value !== 'function') return value;
        return async (key: string, ...rest: unknown[]) => {
          const reply: unknown = await (value as (k: string, ...r: unknown[]) => Promise<unknown>).call(t, key, ...rest);
          if (prop === 'smembers' && key === `{${prefix}}:nodes` && read) roundsAfter++;
          if (prop !== 'sscan' || key !== `{${prefix}:n:node-a}:joins` || read) return reply;
          read = true;
          await released;
          return reply;
        };
      },
    });
    const b = await startNode(prefix, 'node-b', gated);

    a.presence.stopHeartbeat();
    await raw.del(`{${prefix}:n:node-a}:alive`);
    try {
      await until(() => Promise.resolve(read), WAIT_MS, "node-b's reaper to read node-a's joins");
      await a.presence.start();
      const owner = () => raw.hget(`{${prefix}:r:r}:c`, JSON.stringify(['dan', 'd1']));
      await until(async () => (await owner())?.startsWith('node-a~') === true, WAIT_MS, 'node-a to take its entries over');
      await until(async () => (await raw.hget(`{${prefix}:u:dan}:conns`, 'd1'))?.startsWith('node-a~') === true, WAIT_MS, 'the connection too');
    } finally {
      release();
    }
    await until(() => Promise.resolve(roundsAfter > 0), WAIT_MS, 'node-b to finish reaping node-a');
    expect(await raw.sismember(`{${prefix}}:nodes`, 'node-a')).toBe(0);

    expect(await devicesIn(b.presence, 'r')).toEqual({ dan: 1 });
    expect(await b.presence.user('dan')).toEqual({ user: 'dan', online: true, devices: 1, rooms: ['r'] });
    expect(b.reaped).toEqual([]);
  });

  it('Redis lost every key: the open connections are counted again and their users announced online', async () => {
    const prefix = newPrefix('flushed');
    const a = await startNode(prefix, 'node-a');
    await connect(a, 'eve', 'e1', 'r1', 'r2');
    await connect(a, 'fay', 'f1', 'r1');
    expect(await deleteKeys(raw, `{${prefix}*`)).toBeGreaterThan(0);

    // Rooms and the connection cap come back in the same reconciliation, not in one step: wait
    // for both (the guarantee is eventual). The keys go one by one (not one FLUSHALL), so a pass
    // may restore an entry that a later deletion takes again: it is then announced again.
    const restored = (): string[] => [...new Set(a.restored)].sort();
    await until(async () => restored().length === 3 && (await a.presence.user('eve')).devices === 1, WAIT_MS, 'three (room, user) and the connections to come back');
    expect(restored()).toEqual(['r1/eve', 'r1/fay', 'r2/eve']);
    expect(await devicesIn(a.presence, 'r1')).toEqual({ eve: 1, fay: 1 });
    expect(await a.presence.user('eve')).toEqual({ user: 'eve', online: true, devices: 1, rooms: ['r1', 'r2'] });
    expect(await a.presence.stats()).toEqual({ connections: 2, rooms: 2, nodes: 1 });
  });

  it('a process that died under the same NODE_ID left entries: the next one removes them', async () => {
    const prefix = newPrefix('samename');
    const before = await startNode(prefix, 'node-x');
    await connect(before, 'gus', 'g1', 'r');
    before.presence.stopHeartbeat();

    const after = await startNode(prefix, 'node-x');
    await until(() => Promise.resolve(after.reaped.includes('r/gus')), WAIT_MS, 'gus to leave the roster');
    expect(await after.presence.user('gus')).toEqual({ user: 'gus', online: false, devices: 0, rooms: [] });
    expect(await after.presence.stats()).toEqual({ connections: 0, rooms: 0, nodes: 1 });
  });

  it('a registration stays counted while its connection opens, and stops counting if it never does', async () => {
    const a = await startNode(newPrefix('opening'), 'node-a');
    expect(await a.presence.registerConnection('hal', 'h1', 5)).toBe(true);
    expect(await a.presence.registerConnection('hal', 'h2', 5)).toBe(true);
    a.local.open('hal', 'h2');
    await until(async () => (await a.presence.user('hal')).devices === 1, WAIT_MS, 'the registration that never opened to go');
    expect(await a.presence.stats()).toMatchObject({ connections: 1 });
  });
});
