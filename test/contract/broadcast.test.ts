import { Redis } from 'ioredis';
import { beforeAll } from 'vitest';
import { MemoryBroadcast } from '../../src/bus/memory-broadcast.js';
import { NatsBroadcast } from '../../src/bus/nats-broadcast.js';
import { RedisBroadcast } from '../../src/bus/redis-broadcast.js';
import { createLogger } from '../../src/shared/logger.js';
import { requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';
import { broadcastContract } from './broadcast.contract.js';

const logger = createLogger('silent');

beforeAll(async () => {
  await requireNats();
  await requireRedis();
});

broadcastContract('memory', () => Promise.resolve(new MemoryBroadcast()), { cluster: false });

let natsPrefix = uniquePrefix('bus');
broadcastContract(
  'nats',
  (nodeId) => {
    if (nodeId === 'a') natsPrefix = uniquePrefix('bus');
    return Promise.resolve(new NatsBroadcast('nats://127.0.0.1:4222', natsPrefix, nodeId, logger));
  },
  { cluster: true },
);

let redisPrefix = uniquePrefix('bus');
broadcastContract(
  'redis',
  (nodeId) => {
    if (nodeId === 'a') redisPrefix = uniquePrefix('bus');
    const url = 'redis://127.0.0.1:6379';
    const pub = new Redis(url);
    const sub = new Redis(url);
    const bus = new RedisBroadcast(pub, sub, redisPrefix, nodeId, logger);
    const close = bus.close.bind(bus);
    bus.close = async () => {
      await close();
      await Promise.all([pub.quit(), sub.quit()]);
    };
    return Promise.resolve(bus);
  },
  { cluster: true },
);
