import type { MongoClient } from 'mongodb';
import type { NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { MongoMessageStore } from '../../src/persistence/mongo-store.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { createLogger } from '../../src/shared/logger.js';
import { PersistWorker } from '../../src/workers/persist-worker.js';
import { requireMongo, requireNats, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, stopProcess, type WorkerProcess } from './persist-child.js';
import { consumerDrained, countStored, deleteStreams, eventually, message, mongoClient, MONGO_URL, natsConnection, NATS_URL, storedKeys } from './persist-support.js';

const logger = createLogger('silent');
let nc: NatsConnection;
let mongo: MongoClient;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await requireNats();
  await requireMongo();
  nc = await natsConnection();
  mongo = await mongoClient();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await nc?.close();
  await mongo?.close();
});

async function deployment(name: string): Promise<{ prefix: string; queue: JetStreamQueue; env: Record<string, string> }> {
  const prefix = uniquePrefix(name);
  const queue = new JetStreamQueue({ nats: nc, prefix, logger });
  cleanups.push(() => mongo.db(prefix).dropDatabase());
  cleanups.push(() => deleteStreams(nc, prefix));
  await queue.start();
  cleanups.push(() => queue.close());
  const env = { NATS_URL, MONGODB_URL: `${MONGO_URL}/${prefix}`, KEY_PREFIX: prefix, LOG_LEVEL: 'info', MAX_DELIVER: '5' };
  return { prefix, queue, env };
}

function worker(script: string, args: string[], env: Record<string, string>): WorkerProcess {
  const p = spawnWorker(script, args, env);
  cleanups.push(() => stopProcess(p));
  return p;
}

async function publishAll(queue: JetStreamQueue, messages: ChatMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 500) await Promise.all(messages.slice(i, i + 500).map((m) => queue.publish(m)));
}

const batch = (room: string, from: number, n: number) => Array.from({ length: n }, (_, i) => message(`${room}.${i % 5}`, from + Math.floor(i / 5)));

it('kill -9 of a worker mid-batch, then a restart: every acknowledged message is stored exactly once', async () => {
  const { prefix, queue, env } = await deployment('crash');
  const before = batch('k', 1, 5_000);
  await publishAll(queue, before);
  const childEnv = { ...env, TEST_ACK_WAIT_MS: '1000', TEST_BATCH_SIZE: '100' };
  const first = worker('test/integration/persist-worker-child.ts', [], childEnv);
  await first.started;
  await eventually('the first batches stored', async () => (await countStored(mongo, prefix)) > 0, 30_000);
  // Killed while a fetched batch is not yet acknowledged: that is "mid-batch".
  const jsm = await nc.jetstreamManager();
  await eventually('a batch in flight', async () => (await jsm.consumers.info(queue.names.stream, queue.names.consumer)).num_ack_pending > 0, 30_000, 5);
  first.child.kill('SIGKILL');
  expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
  expect(await countStored(mongo, prefix)).toBeLessThan(before.length);
  const info = await (await nc.jetstreamManager()).consumers.info(queue.names.stream, queue.names.consumer);
  // Delivered but never acknowledged: the kill interrupted work in progress. (Not num_ack_pending:
  // it drops back to 0 once the 1 s ack wait has passed, which a slow machine can reach first.)
  expect(info.delivered.stream_seq).toBeGreaterThan(info.ack_floor.stream_seq);

  const after = batch('k', 2_001, 500);
  await publishAll(queue, after);
  const second = worker('test/integration/persist-worker-child.ts', [], childEnv);
  await second.started;
  await consumerDrained(nc, prefix, 120_000);
  const keys = await storedKeys(mongo, prefix);
  expect(keys.length).toBe(5_500);
  expect(new Set(keys)).toEqual(new Set([...before, ...after].map((m) => `${m.room}:${m.seq}:${m.cid}`)));
}, 200_000);

it('`parley worker` on SIGTERM finishes its batch, acks or hands back what it fetched, and exits 0', async () => {
  const { prefix, queue, env } = await deployment('sigterm');
  const all = batch('s', 1, 5_000);
  await publishAll(queue, all);
  const cli = worker('src/cli.ts', ['worker'], env);
  await cli.started;
  await eventually('the first batches stored', async () => (await countStored(mongo, prefix)) > 0, 30_000);
  cli.child.kill('SIGTERM');
  expect(await cli.exited).toEqual({ code: 0, signal: null });
  expect(cli.output()).toContain('"stopping the persist worker"');
  // Nothing it fetched is left waiting for the ack wait: every message was acked or nak-ed.
  const info = await (await nc.jetstreamManager()).consumers.info(queue.names.stream, queue.names.consumer);
  expect(info.num_ack_pending).toBe(0);
  const storedAtExit = await countStored(mongo, prefix);
  expect(info.ack_floor.stream_seq).toBe(storedAtExit);

  const store = new MongoMessageStore({ url: MONGO_URL, dbName: prefix });
  await store.start();
  cleanups.push(() => store.close());
  const next = new PersistWorker({ nc, prefix, store, logger, registry: new Registry(), maxDeliver: 5 });
  await next.start();
  cleanups.push(() => next.close());
  await consumerDrained(nc, prefix, 120_000);
  expect((await storedKeys(mongo, prefix)).length).toBe(all.length);
}, 200_000);

it('`parley worker` without MONGODB_URL exits 1 naming the variable', async () => {
  const { env } = await deployment('noenv');
  // Empty counts as unset; it also hides any MONGODB_URL the test process may have.
  const cli = spawnWorker('src/cli.ts', ['worker'], { ...env, MONGODB_URL: '' });
  cleanups.push(() => stopProcess(cli));
  expect((await cli.exited).code).toBe(1);
  expect(cli.output()).toContain('invalid configuration: MONGODB_URL');
});
