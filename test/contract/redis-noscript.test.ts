import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresence } from '../../src/rooms/state/redis-presence.js';
import { RedisRoomState } from '../../src/rooms/state/redis-room-state.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/services-private.js';

/**
 * Scripts run with EVALSHA; after a Redis restart or SCRIPT FLUSH the server no longer knows
 * them and answers NOSCRIPT, and the adapters must load them again by themselves. A private
 * Redis, since flushing scripts on the shared one would disturb other tests.
 */
describe('redis scripts after SCRIPT FLUSH', () => {
  let redis: PrivateRedis;
  let client: Redis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await client?.quit();
    await redis?.close();
  });

  it('room state and presence keep working: NOSCRIPT reloads the script', async () => {
    const state = new RedisRoomState(client, { prefix: 'ns', recentMax: 10 });
    const presence = new RedisPresence(client, { prefix: 'ns', nodeId: 'n1', nodeTtlS: 30 });
    await presence.start();
    const send = (cid: string) => state.append({ room: 'r', from: 'u', cid, body: cid, ts: Date.now() }, 60);
    expect((await send('a')).message.seq).toBe(1);
    expect(await presence.registerConnection('u', 'c1', 5)).toBe(true);

    expect(await redis.command('SCRIPT', 'FLUSH')).toBe('+OK');
    expect(await client.script('EXISTS', 'ffffffffffffffffffffffffffffffffffffffff')).toEqual([0]);
    expect((await send('b')).message.seq).toBe(2);
    expect((await send('a')).dup).toBe(true);
    expect(await presence.registerConnection('u', 'c2', 5)).toBe(true);
    expect((await presence.user('u')).devices).toBe(2);
    await presence.close();
  });
});
