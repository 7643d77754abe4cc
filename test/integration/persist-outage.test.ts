import { MongoClient } from 'mongodb';
import type { NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { MongoMessageStore } from '../../src/persistence/mongo-store.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { createLogger } from '../../src/shared/logger.js';
import { PersistWorker } from '../../src/workers/persist-worker.js';
import { requireMongo, requireNats, uniquePrefix } from '../helpers/services.js';
import { consumerDrained, deadLetters, deleteStreams, eventually, message, metricValue, natsConnection, PrivateFerret, storedKeys } from './persist-support.js';

// MongoDB going away is simulated on a FerretDB of this file's own (PrivateFerret): killing the
// shared one from scripts/services.sh would break the test files running beside this one.
const logger = createLogger(process.env.TEST_LOG ?? 'silent');
let nc: NatsConnection;
let ferret: PrivateFerret;

beforeAll(async () => {
  await requireNats();
  await requireMongo();
  nc = await natsConnection();
  ferret = await PrivateFerret.start();
});
afterAll(async () => {
  await nc?.close();
  await ferret?.close();
});

const publishAll = async (queue: JetStreamQueue, messages: ChatMessage[]) => {
  for (let i = 0; i < messages.length; i += 500) await Promise.all(messages.slice(i, i + 500).map((m) => queue.publish(m)));
};
const range = (room: string, from: number, n: number) => Array.from({ length: n }, (_, i) => message(`${room}.${i % 4}`, from + Math.floor(i / 4)));

it('MongoDB down while sends go on: the queue holds the backlog and nothing is lost once it returns', async () => {
  const prefix = uniquePrefix('outage');
  const queue = new JetStreamQueue({ nats: nc, prefix, logger });
  await queue.start();
  const store = new MongoMessageStore({ url: ferret.url, dbName: prefix, serverSelectionTimeoutMS: 500 });
  await store.start();
  const registry = new Registry();
  const worker = new PersistWorker({ nc, prefix, store, logger, registry, maxDeliver: 2, options: { retryMinMs: 50, retryMaxMs: 300, ackWaitMs: 5_000 } });
  await worker.start();
  const check = await new MongoClient(ferret.url, { serverSelectionTimeoutMS: 5_000 }).connect();
  const stored = async () => check.db(prefix).collection('messages').countDocuments();
  try {
    const before = range('o', 1, 1_000);
    await publishAll(queue, before);
    await eventually('the first messages stored', async () => (await stored()) === 1_000, 60_000, 200);

    await ferret.kill();
    const during = range('o', 251, 3_000);
    await publishAll(queue, during);
    await eventually('the worker found the store unreachable', async () => (await metricValue(registry, 'parley_persist_failures_total', { kind: 'transient' })) >= 6);
    const info = await (await nc.jetstreamManager()).streams.info(queue.names.stream);
    expect(info.state.messages).toBe(4_000);

    await ferret.restart();
    const after = range('o', 1_001, 200);
    await publishAll(queue, after);
    await consumerDrained(nc, prefix, 120_000);
    const keys = await storedKeys(check, prefix);
    expect(keys.length).toBe(4_200);
    expect(new Set(keys)).toEqual(new Set([...before, ...during, ...after].map((m) => `${m.room}:${m.seq}:${m.cid}`)));
    // The outage spent no deliveries: a MAX_DELIVER of 2 dead-lettered nothing.
    expect(await metricValue(registry, 'parley_persist_dead_letters_total')).toBe(0);
    expect(await deadLetters(nc, prefix)).toEqual([]);
    expect(await queue.lastSeq('o.0')).toBe(1_050);
  } finally {
    await ferret.restart();
    await worker.close();
    await store.close();
    await queue.close();
    await deleteStreams(nc, prefix);
    await check.db(prefix).dropDatabase();
    await check.close();
  }
}, 240_000);
