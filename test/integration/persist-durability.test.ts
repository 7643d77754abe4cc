import type { Db, MongoClient } from 'mongodb';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/logger.js';
import { runWorker, type RunningWorker } from '../../src/worker.js';
import { GENEROUS_RATES, until } from '../cluster/support.js';
import { TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { startPrivateNats, type PrivateService } from '../helpers/services-private.js';
import { requireMongo, requireRedis, uniquePrefix } from '../helpers/services.js';
import { consumerDrained, deadLetters, MONGO_URL, mongoClient } from './persist-support.js';

/**
 * Storage never drops an acknowledged message: a gateway, a persist worker and MongoDB, with
 * the queue stream at its smallest (1 MiB) on a NATS of this file's own, so that filling it
 * costs the shared server nothing.
 */
describe('storage keeps every acknowledged message', () => {
  const prefix = uniquePrefix('pdur');
  let nats: PrivateService;
  let env: Record<string, string>;
  let node: TestNode;
  let worker: RunningWorker | undefined;
  let nc: NatsConnection;
  let mongo: MongoClient;
  let db: Db;
  const startWorker = async () => {
    worker = await runWorker(loadConfig({ ...env, NODE_ENV: 'test' }, { role: 'worker' }).config, createLogger('silent'));
  };

  beforeAll(async () => {
    await Promise.all([requireRedis(), requireMongo()]);
    nats = await startPrivateNats();
    env = {
      REDIS_URL: 'redis://127.0.0.1:6379',
      NATS_URL: nats.url,
      MONGODB_URL: `${MONGO_URL}/${prefix}`,
      KEY_PREFIX: prefix,
      QUEUE_MAX_BYTES: String(1024 * 1024),
      DEDUPE_TTL_S: '1',
      ...GENEROUS_RATES,
    };
    node = await startNode(env);
    await startWorker();
    nc = await connect({ servers: nats.url, name: 'parley-test-durability' });
    mongo = await mongoClient();
    db = mongo.db(prefix);
  }, 60_000);

  afterAll(async () => {
    await node?.close();
    await worker?.close();
    await nc?.close();
    await db?.dropDatabase().catch(() => undefined);
    await mongo?.close();
    await nats?.close();
  });

  /** "seq:cid" of the room's stored messages, by seq. */
  const stored = async (room: string) =>
    (await db.collection('messages').find({ room }, { projection: { _id: 0, seq: 1, cid: 1 } }).sort({ seq: 1 }).toArray()).map((d) => `${String(d['seq'])}:${String(d['cid'])}`);

  it('a cid reused after DEDUPE_TTL_S is stored as a second message, nothing dead-lettered', async () => {
    const room = 'reuse';
    const a = await TestClient.connect('ws', node, await node.token('alice'));
    await a.join(room);
    expect(await a.send(room, 'same', 'first')).toMatchObject({ seq: 1, dup: false });
    let later: { seq: number; dup: boolean } | undefined;
    await until(async () => !(later = (await a.send(room, 'same', 'second')) as { seq: number; dup: boolean }).dup, 'the cid is past the dedupe window', 10_000);
    expect(later?.seq).toBe(2);
    await consumerDrained(nc, prefix, 30_000);
    expect(await stored(room)).toEqual(['1:same', '2:same']);
    expect(await db.collection('messages').distinct('body', { room })).toEqual(['first', 'second']);
    expect(await deadLetters(nc, prefix)).toEqual([]);
    a.close();
  });

  it('with the worker stopped, sends past the queue’s capacity are refused (overloaded), and every acknowledged one is stored once it runs again', async () => {
    const room = 'backlog';
    const a = await TestClient.connect('ws', node, await node.token('bob'));
    await a.join(room);
    for (let i = 1; i <= 5; i++) await a.send(room, `early${i}`, `early ${i}`);
    await consumerDrained(nc, prefix, 30_000);
    await worker?.close();
    worker = undefined;

    // About 4 KB each: the 1 MiB stream holds some 250. Sends go on well past the first refusal.
    const acked = new Map<string, number>();
    const refused: string[] = [];
    for (let i = 1; i <= 600 && refused.length < 30; i++) {
      const cid = `m${i}`;
      const r = await a.request('send', { room, cid, body: `${cid} ${'x'.repeat(4_000)}` });
      if (r.ok) acked.set(cid, (r.data as { seq: number }).seq);
      else {
        expect(r.error?.code).toBe('overloaded');
        refused.push(cid);
      }
    }
    expect(refused.length).toBe(30);
    expect(acked.size).toBeGreaterThan(150);
    await until(async () => (await metricLine(node, 'parley_queue_full')) === 1, 'parley_queue_full is 1', 10_000);

    await startWorker();
    await consumerDrained(nc, prefix, 60_000);
    const keys = new Set(await stored(room));
    expect([...acked].map(([cid, seq]) => `${seq}:${cid}`).filter((k) => !keys.has(k))).toEqual([]);
    expect(await deadLetters(nc, prefix)).toEqual([]);

    // Stored, the backlog is trimmed from the stream, and sends are taken again.
    const jsm = await nc.jetstreamManager();
    await until(async () => (await jsm.streams.info(queueNames(prefix).stream)).state.bytes < 0.8 * 1024 * 1024, 'the stored backlog is trimmed', 10_000);
    await until(async () => (await metricLine(node, 'parley_queue_full')) === 0, 'parley_queue_full is 0', 10_000);
    expect((await a.request('send', { room, cid: 'after', body: 'after' })).ok).toBe(true);
    a.close();
  }, 180_000);
});

/** A gauge's value from the node's /metrics. */
async function metricLine(node: TestNode, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}
