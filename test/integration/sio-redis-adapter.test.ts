// A node with Redis configured runs Socket.IO on @socket.io/redis-adapter: Socket.IO's cluster
// operations reach other gateway processes, local room broadcasts stay uWS topic publishes
// (socket.io's uWS integration patches the base adapter the Redis one inherits), and the
// adapter's Redis connections close with the node. Reads the node's private io and app.
import { RedisAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TemplatedApp } from '../../src/gateway/uws.js';
import { TestClient } from '../helpers/clients.js';
import { spawnNode } from '../helpers/cluster.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { requireRedis, uniquePrefix } from '../helpers/services.js';

const prefix = uniquePrefix('sio_adapter');
const nodeId = `${prefix}-local`;
const REDIS_URL = 'redis://127.0.0.1:6379';
let node: TestNode;
let redis: Redis;
const internals = () => node.node as unknown as { io: Server; app: TemplatedApp };

beforeAll(async () => {
  await requireRedis();
  redis = new Redis(REDIS_URL);
  node = await startNode({ REDIS_URL, KEY_PREFIX: prefix, NODE_ID: nodeId, BUS: 'redis' });
});
afterAll(async () => {
  await node.close();
  redis.disconnect();
});

describe('Socket.IO on the Redis adapter', () => {
  it('is installed, and a room message to a Socket.IO client is one uWS topic publish', async () => {
    const { io, app } = internals();
    expect(io.of('/').adapter).toBeInstanceOf(RedisAdapter);
    const room = 'fast-path';
    const reader = await TestClient.connect('sio', node, await node.token('fast-reader'));
    const writer = await TestClient.connect('ws', node, await node.token('fast-writer'));
    await reader.join(room);
    await writer.join(room);
    const publish = vi.spyOn(app, 'publish');
    try {
      await writer.send(room, 'c1', 'fast');
      expect(await reader.waitFor('msg', (f) => f['room'] === room)).toMatchObject({ seq: 1, body: 'fast' });
      const sioTopic = `/\x1fm:${room}`;
      const toSio = publish.mock.calls.filter(([topic]) => topic === sioTopic);
      expect(toSio).toHaveLength(1);
      const packet = toSio[0]?.[1];
      expect(typeof packet).toBe('string');
      expect(packet as string).toMatch(/^42\["msg",\{"room":"fast-path","seq":1,/);
    } finally {
      publish.mockRestore();
    }
    await reader.barrier();
    expect(reader.received('msg', (f) => f['room'] === room)).toHaveLength(1);
    reader.close();
    writer.close();
  });

  it('io.fetchSockets() here returns a Socket.IO client of another gateway process', async () => {
    const other = await spawnNode(`${prefix}-remote`, { REDIS_URL, KEY_PREFIX: prefix, BUS: 'redis' });
    try {
      const remote = await TestClient.connect('sio', other, await other.token('remote-user'));
      const sockets = await internals().io.fetchSockets();
      const users = sockets.map((s) => (s.data as { identity?: { user?: string } }).identity?.user);
      expect(users).toContain('remote-user');
      remote.close();
    } finally {
      await other.close();
    }
  }, 40_000);

  it('its Redis connections close with the node', async () => {
    const names = async () =>
      String(await redis.client('LIST'))
        .split('\n')
        .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
        .filter((name) => name.startsWith(`parley-${nodeId}`))
        .sort();
    expect(await names()).toEqual(
      ['', '-presence', '-pub', '-sio-pub', '-sio-sub', '-sub'].map((suffix) => `parley-${nodeId}${suffix}`).sort(),
    );
    await node.close();
    await vi.waitFor(async () => expect(await names()).toEqual([]), { timeout: 5000 });
  });
});
