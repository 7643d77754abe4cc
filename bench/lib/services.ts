import { randomBytes } from 'node:crypto';
import { connect as tcp } from 'node:net';
import { Redis } from 'ioredis';
import { connect as natsConnect } from 'nats';
import { queueNames } from '../../src/bus/jetstream-streams.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);
const SCAN_ROUNDS = 1_000;

export interface Services {
  redisUrl: string;
  natsUrl: string;
}

/** REDIS_URL and NATS_URL (defaults: the test services), refused unless on 127.0.0.1. */
export function localServices(): Services {
  const pick = (name: string, fallback: string): string => {
    const value = process.env[name] || fallback;
    const host = new URL(value).hostname;
    if (!LOOPBACK.has(host)) throw new Error(`${name}=${value}: the bench only talks to 127.0.0.1`);
    return value;
  };
  return { redisUrl: pick('REDIS_URL', 'redis://127.0.0.1:6379'), natsUrl: pick('NATS_URL', 'nats://127.0.0.1:4222') };
}

/** Resolves with why `url`'s host:port does not accept a TCP connection, or undefined. */
export function unreachable(url: string): Promise<string | undefined> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = tcp({ host: u.hostname, port: Number(u.port) });
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`${u.host}: no answer`), 2_000);
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`${u.host}: ${err.code ?? err.message}`));
  });
}

/** A KEY_PREFIX of its own per run, so the bench never touches anyone else's keys or subjects. */
export function benchPrefix(tag: string): string {
  return `bench_${tag}_${randomBytes(4).toString('hex')}`;
}

/**
 * Removes what a run left under `prefix`: Redis keys and the JetStream streams named after it.
 * Most Parley keys begin with a hash tag, `{prefix:…}`, so both spellings are matched. A cleanup
 * that fails is reported on stderr and does not fail the run: the leftovers are under a prefix
 * no other run uses.
 */
export async function cleanupPrefix(services: Services, prefix: string): Promise<void> {
  const redis = new Redis(services.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
      let cursor = '0';
      for (let round = 0; round < SCAN_ROUNDS; round++) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
    }
  } catch (err) {
    process.stderr.write(`bench: removing the Redis keys of ${prefix} failed: ${String(err)}\n`);
  } finally {
    redis.disconnect();
  }
  try {
    const nc = await natsConnect({ servers: services.natsUrl, timeout: 2_000 });
    try {
      const jsm = await nc.jetstreamManager();
      const names = queueNames(prefix);
      // A stream the run never made is not found: nothing to remove.
      for (const stream of [names.stream, names.deadStream]) await jsm.streams.delete(stream).catch(() => false);
    } finally {
      await nc.close();
    }
  } catch (err) {
    process.stderr.write(`bench: removing the JetStream streams of ${prefix} failed: ${String(err)}\n`);
  }
}
