// The Redis adapters against the shared contracts on a real 3-shard Redis Cluster (ioredis
// `Cluster` clients), where a script or command whose keys span two slots is refused and a
// sharded channel lives on one shard only; and one gateway process configured for it.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroadcast } from '../../src/bus/redis-broadcast.js';
import { RedisConnection } from '../../src/redis-connection.js';
import { RedisPresence } from '../../src/rooms/state/redis-presence.js';
import { RedisRoomState } from '../../src/rooms/state/redis-room-state.js';
import { createLogger } from '../../src/shared/logger.js';
import { TestClient } from '../helpers/clients.js';
import { spawnNode } from '../helpers/cluster.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { requireNats, uniquePrefix } from '../helpers/services.js';
import { broadcastContract } from './broadcast.contract.js';
import { presenceContract } from './presence.contract.js';
import { roomChangesContract } from './room-changes.contract.js';
import { roomStateContract } from './room-state.contract.js';

const logger = createLogger('silent');
let redis: RedisClusterHandle;
let client: Cluster;

beforeAll(async () => {
  redis = await startRedisCluster();
  client = new Cluster(redis.startupNodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

roomStateContract('redis cluster', async ({ recentMax }) => {
  const state = new RedisRoomState(client, { prefix: uniquePrefix('state'), recentMax });
  await state.start();
  return state;
});

roomChangesContract('redis cluster', async ({ recentMax }) => {
  const state = new RedisRoomState(client, { prefix: uniquePrefix('changes'), recentMax });
  await state.start();
  return state;
});

presenceContract('redis cluster', async () => {
  const presence = new RedisPresence(client, { prefix: uniquePrefix('presence'), nodeId: 'node-a', nodeTtlS: 30 });
  await presence.start();
  return presence;
});

/** A RedisBroadcast over its own pub and sub connections, made the way src/adapters.ts makes them. */
async function clusterBus(prefix: string, nodeId: string): Promise<RedisBroadcast> {
  const pub = new RedisConnection(undefined, redis.nodes, `${nodeId}-pub`, logger);
  const sub = new RedisConnection(undefined, redis.nodes, `${nodeId}-sub`, logger, { shardedSubscribers: true });
  await Promise.all([pub.start(), sub.start()]);
  const bus = new RedisBroadcast(pub.client, sub.client, prefix, nodeId, logger);
  const close = bus.close.bind(bus);
  bus.close = async () => {
    await close();
    await Promise.all([pub.close(), sub.close()]);
  };
  return bus;
}

let busPrefix = uniquePrefix('bus');
broadcastContract(
  'redis cluster',
  (nodeId) => {
    if (nodeId === 'a') busPrefix = uniquePrefix('bus');
    return clusterBus(busPrefix, nodeId);
  },
  { cluster: true },
);

describe('redis cluster: what only a cluster shows', () => {
  it('the bus fans out rooms whose channels live on every shard', async () => {
    const prefix = uniquePrefix('shards');
    const [a, b] = await Promise.all([clusterBus(prefix, 'a'), clusterBus(prefix, 'b')]);
    await Promise.all([a.start(), b.start()]);
    try {
      const rooms = await namesOnEveryShard('shard-room', (room) => `${prefix}:room:{${room}}`);
      const got: string[] = [];
      let done: () => void = () => {};
      const all = new Promise<void>((resolve) => (done = resolve));
      b.onRoomEvent((room) => {
        got.push(room);
        if (got.length === rooms.length) done();
      });
      for (const room of rooms) await b.subscribe(room);
      for (const room of rooms) await a.publish(room, { kind: 'read', user: 'u', seq: 1 });
      await all;
      expect(got.sort()).toEqual([...rooms].sort());
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('room state and presence keys of many rooms and users spread over every shard', async () => {
    const prefix = uniquePrefix('spread');
    const state = new RedisRoomState(client, { prefix, recentMax: 10 });
    const presence = new RedisPresence(client, { prefix, nodeId: 'spread-node', nodeTtlS: 30 });
    await presence.start();
    try {
      const rooms = await namesOnEveryShard('spread', (room) => `{${prefix}:${room}}:meta`);
      for (const [i, room] of rooms.entries()) {
        expect((await state.append({ room, from: `user-${i}`, cid: 'c1', body: 'x', ts: 1 }, 60)).message.seq).toBe(1);
        expect(await presence.registerConnection(`user-${i}`, `conn-${i}`, 5)).toBe(true);
        expect(await presence.join(room, `user-${i}`, `conn-${i}`, 1)).toEqual({ first: true });
      }
      expect(await presence.stats()).toEqual({ connections: rooms.length, rooms: rooms.length, nodes: 1 });
      expect((await presence.user('user-3')).rooms).toEqual(['spread-3']);
    } finally {
      await presence.close();
    }
  });
});

describe.each(['nats', 'redis'] as const)('redis cluster: a gateway process with REDIS_CLUSTER_NODES, bus %s', (bus) => {
  it('is ready and serves a join and a send on both transports, with the room state in the cluster', async () => {
    await requireNats();
    const prefix = uniquePrefix(`gw_${bus}`);
    const env = { REDIS_CLUSTER_NODES: redis.nodes.join(','), NATS_URL: 'nats://127.0.0.1:4222', BUS: bus, KEY_PREFIX: prefix };
    const node = await spawnNode(`cluster-gw-${bus}`, env);
    try {
      expect((await fetch(`${node.httpUrl}/readyz`)).status).toBe(200);
      const room = 'cluster-gw-room';
      const writer = await TestClient.connect('ws', node, await node.token('cluster-writer'));
      const reader = await TestClient.connect('sio', node, await node.token('cluster-reader'));
      expect(await writer.join(room)).toMatchObject({ room, head: 0, occupancy: 1 });
      expect(await reader.join(room)).toMatchObject({ room, head: 0, occupancy: 2 });
      expect(await writer.send(room, 'c1', 'hello cluster')).toMatchObject({ seq: 1, dup: false });
      for (const c of [writer, reader]) {
        expect(await c.waitFor('msg')).toMatchObject({ room, seq: 1, body: 'hello cluster', from: 'cluster-writer' });
      }
      await reader.barrier();
      expect(reader.received('msg')).toHaveLength(1);
      expect(await client.hget(`{${prefix}:${room}}:meta`, 'seq')).toBe('1');
      expect((await node.admin('GET', '/admin/stats')).body).toMatchObject({ nodes: 1, connections: 2, rooms: 1 });
      writer.close();
      reader.close();
    } finally {
      await node.close();
    }
  }, 40_000);
});

/** `<base>-0`, `<base>-1`, … until the keys `keyOf` makes of them are owned by all three masters. */
async function namesOnEveryShard(base: string, keyOf: (name: string) => string): Promise<string[]> {
  const names: string[] = [];
  const owners = new Set<string>();
  while (owners.size < 3 || names.length < 6) {
    if (names.length > 500) throw new Error('keys do not spread over the shards');
    const name = `${base}-${names.length}`;
    names.push(name);
    owners.add(await masterOf(keyOf(name)));
  }
  return names;
}

/** The master (host:port) that owns `key`'s slot. */
async function masterOf(key: string): Promise<string> {
  const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
  const ranges = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
  const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!owner) throw new Error(`no master owns slot ${slot}`);
  return `${owner[2][0]}:${owner[2][1]}`;
}
