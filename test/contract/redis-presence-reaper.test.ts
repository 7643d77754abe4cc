// One reaper per dead node: every live node looks for dead ones on its heartbeat, but only the
// holder of the dead node's reaper lock reaps it, reading its entries a page at a time. Shared
// Redis, a prefix per test.
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresence } from '../../src/rooms/state/redis-presence.js';
import { requireRedis, uniquePrefix } from '../helpers/services.js';
import { deleteKeys, tagCheckedClient } from './redis-support.js';
import { until } from './room-state.contract.js';

/** 3 s: a heartbeat (and a look for dead nodes) every second on each live node. */
const TTL_S = 3;
const WAIT_MS = 20_000;

let raw: Redis;
let client: Redis;
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

interface Live {
  presence: RedisPresence;
  reapedNodes: string[];
  offline: string[];
  errors: string[];
}

async function startLive(prefix: string, nodeId: string): Promise<Live> {
  const live: Live = { presence: undefined as unknown as RedisPresence, reapedNodes: [], offline: [], errors: [] };
  // A connection of its own, as each gateway has: one node's reaping does not delay another's heartbeat.
  const own = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  undo.push(() => own.quit());
  live.presence = new RedisPresence(tagCheckedClient(own), {
    prefix,
    nodeId,
    nodeTtlS: TTL_S,
    onError: (err) => live.errors.push(String(err)),
    onNodeReaped: (node) => live.reapedNodes.push(node),
  });
  undo.push(() => live.presence.close());
  live.presence.onReaped((room, user) => live.offline.push(`${room}/${user}`));
  await live.presence.start();
  return live;
}

/** A node with `conns` connections, each in one of `rooms` rooms, that then dies (stops heartbeating, its key gone). */
async function deadNode(prefix: string, nodeId: string, conns: number, rooms: number): Promise<Set<string>> {
  const presence = new RedisPresence(client, { prefix, nodeId, nodeTtlS: 3600, onError: () => {} });
  await presence.start();
  const expected = new Set<string>();
  for (let i = 0; i < conns; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, conns - i) }, async (_, k) => {
        const n = i + k;
        const user = `u${n}`;
        const room = `room${n % rooms}`;
        expect(await presence.registerConnection(user, `c${n}`, 10)).toBe(true);
        await presence.join(room, user, `c${n}`, Date.now());
        expected.add(`${room}/${user}`);
      }),
    );
  }
  presence.stopHeartbeat();
  await raw.del(`{${prefix}:n:${nodeId}}:alive`);
  return expected;
}

describe('redis presence: one reaper per dead node', () => {
  it('two live nodes, a third dies: exactly one of them reaps it, every entry goes, each user is reported once', async () => {
    const prefix = uniquePrefix('reaper');
    undo.push(() => deleteKeys(raw, `{${prefix}*`));
    // More entries than one SSCAN page (1,000), so the reaper reads them in several.
    const expected = await deadNode(prefix, 'node-a', 2500, 50);
    const [b, c] = await Promise.all([startLive(prefix, 'node-b'), startLive(prefix, 'node-c')]);

    await until(async () => (await raw.sismember(`{${prefix}}:nodes`, 'node-a')) === 0, WAIT_MS, 'node-a to be reaped');
    // A few more rounds of both nodes: a second reap would show now.
    const rounds = (await raw.get(`{${prefix}:n:node-b}:alive`)) ?? '';
    await until(async () => ((await raw.get(`{${prefix}:n:node-b}:alive`)) ?? '') !== rounds, WAIT_MS, 'node-b to beat again');
    await until(async () => (await raw.get(`{${prefix}:n:node-c}:alive`)) !== null, WAIT_MS, 'node-c to beat');
    await new Promise((resolve) => setTimeout(resolve, 4 * (TTL_S * 1000) / 3));

    expect([...b.reapedNodes, ...c.reapedNodes]).toEqual(['node-a']);
    const offline = [...b.offline, ...c.offline];
    expect(offline).toHaveLength(expected.size);
    expect(new Set(offline)).toEqual(expected);
    for (const key of ['joins', 'conns', 'grace', 'reaper']) expect(await raw.exists(`{${prefix}:n:node-a}:${key}`)).toBe(0);
    expect(await b.presence.stats()).toEqual({ connections: 0, rooms: 0, nodes: 2 });
    expect([...b.errors, ...c.errors]).toEqual([]);
  }, 60_000);

  it("a reaped user with a connection on a live node stays online; one with two on the dead node goes offline once", async () => {
    const prefix = uniquePrefix('reapmix');
    undo.push(() => deleteKeys(raw, `{${prefix}*`));
    const dead = new RedisPresence(client, { prefix, nodeId: 'node-a', nodeTtlS: 3600, onError: () => {} });
    await dead.start();
    for (const [user, connId] of [['both', 'a1'], ['twice', 'a2'], ['twice', 'a3']] as const) {
      expect(await dead.registerConnection(user, connId, 10)).toBe(true);
      await dead.join('r', user, connId, Date.now());
    }
    const b = await startLive(prefix, 'node-b');
    expect(await b.presence.registerConnection('both', 'b1', 10)).toBe(true);
    await b.presence.join('r', 'both', 'b1', Date.now());
    dead.stopHeartbeat();
    await raw.del(`{${prefix}:n:node-a}:alive`);

    await until(() => Promise.resolve(b.offline.includes('r/twice')), WAIT_MS, 'twice to go offline');
    await until(async () => (await raw.sismember(`{${prefix}}:nodes`, 'node-a')) === 0, WAIT_MS, 'node-a to be forgotten');
    expect(b.offline).toEqual(['r/twice']);
    expect(await b.presence.user('both')).toEqual({ user: 'both', online: true, devices: 1, rooms: ['r'] });
    expect(await b.presence.user('twice')).toEqual({ user: 'twice', online: false, devices: 0, rooms: [] });
    expect(await raw.hgetall(`{${prefix}:u:both}:conns`)).toEqual({ b1: 'node-b' });
    expect(await raw.exists(`{${prefix}:u:twice}:conns`)).toBe(0);
    expect(b.errors).toEqual([]);
  }, 60_000);

  it('a dead node whose reaper lock is held by another is left alone until the lock goes', async () => {
    const prefix = uniquePrefix('reaplock');
    undo.push(() => deleteKeys(raw, `{${prefix}*`));
    const expected = await deadNode(prefix, 'node-a', 10, 2);
    // Another process holds the lock (it is reaping, or died doing it).
    await raw.set(`{${prefix}:n:node-a}:reaper`, 'someone-else', 'PX', 60_000);
    const b = await startLive(prefix, 'node-b');
    const beat = async () => {
      const before = await raw.get(`{${prefix}:n:node-b}:alive`);
      await until(async () => (await raw.get(`{${prefix}:n:node-b}:alive`)) !== before, WAIT_MS, 'node-b to beat');
    };
    for (let i = 0; i < 3; i++) await beat();
    expect(b.reapedNodes).toEqual([]);
    expect(await raw.scard(`{${prefix}:n:node-a}:joins`)).toBe(10);
    // The lock is another's: node-b never deletes it.
    expect(await raw.get(`{${prefix}:n:node-a}:reaper`)).toBe('someone-else');

    await raw.del(`{${prefix}:n:node-a}:reaper`);
    await until(async () => (await raw.sismember(`{${prefix}}:nodes`, 'node-a')) === 0, WAIT_MS, 'node-a to be reaped');
    expect(b.reapedNodes).toEqual(['node-a']);
    expect(new Set(b.offline)).toEqual(expected);
  }, 60_000);
});
