import type { MongoClient } from 'mongodb';
import { MongoNetworkError } from 'mongodb';
import type { NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { JetStreamQueue } from '../../src/bus/jetstream-queue.js';
import { persistSubject } from '../../src/bus/jetstream-streams.js';
import { MongoMessageStore } from '../../src/persistence/mongo-store.js';
import { createLogger } from '../../src/shared/logger.js';
import { ensurePersistConsumer } from '../../src/workers/persist-consumer.js';
import type { PersistTarget } from '../../src/workers/batch-writer.js';
import { PersistWorker, type PersistWorkerOptions } from '../../src/workers/persist-worker.js';
import { requireMongo, requireNats, uniquePrefix } from '../helpers/services.js';
import { consumerDrained, deadLetters, deleteStreams, eventually, message, metricValue, mongoClient, MONGO_URL, natsConnection, storedKeys } from './persist-support.js';

const logger = createLogger(process.env.TEST_LOG ?? 'silent');
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

interface Setup {
  prefix: string;
  queue: JetStreamQueue;
  store: MongoMessageStore;
  registry: Registry;
  worker: (target?: PersistTarget) => Promise<PersistWorker>;
}

async function setup(name: string, maxDeliver = 5, options: Partial<PersistWorkerOptions> = {}, duplicateWindowMs = 120_000): Promise<Setup> {
  const prefix = uniquePrefix(name);
  const queue = new JetStreamQueue({ nats: nc, prefix, logger, limits: { duplicateWindowMs } });
  cleanups.push(() => deleteStreams(nc, prefix));
  await queue.start();
  cleanups.push(() => queue.close());
  const store = new MongoMessageStore({ url: MONGO_URL, dbName: prefix });
  cleanups.push(() => mongo.db(prefix).dropDatabase());
  await store.start();
  cleanups.push(() => store.close());
  const registry = new Registry();
  const worker = async (target: PersistTarget = store) => {
    const w = new PersistWorker({ nc, prefix, store: target, logger, registry, maxDeliver, options });
    await w.start();
    cleanups.push(() => w.close());
    return w;
  };
  return { prefix, queue, store, registry, worker };
}

it('10,000 sends with random re-publishes of the same room:seq are stored once each', async () => {
  const { prefix, queue, registry, worker } = await setup('pw_bulk', 5, {}, 1_000);
  await worker();
  await worker();
  const rooms = Array.from({ length: 20 }, (_, i) => `bulk.${i}`);
  const all = Array.from({ length: 10_000 }, (_, i) => message(rooms[i % 20] as string, Math.floor(i / 20) + 1, { from: `u${i % 7}` }));
  let copies = 0;
  for (let i = 0; i < all.length; i += 500) {
    const chunk = all.slice(i, i + 500);
    const again = chunk.filter(() => Math.random() < 0.2);
    copies += again.length;
    await Promise.all([...chunk, ...again].map((m) => queue.publish(m)));
  }
  expect(copies).toBeGreaterThan(1_000);
  // Past the (1 s) duplicate window a copy is a new stream message: the store must absorb it.
  await eventually('the duplicate window passed', async () => {
    await queue.publish(all[0]!);
    const info = await (await nc.jetstreamManager()).streams.info(queue.names.stream);
    return info.state.messages > 10_000;
  });
  const late = all.filter(() => Math.random() < 0.05);
  await Promise.all(late.map((m) => queue.publish(m)));

  await consumerDrained(nc, prefix, 150_000);
  const keys = await storedKeys(mongo, prefix);
  expect(keys.length).toBe(10_000);
  expect(new Set(keys)).toEqual(new Set(all.map((m) => `${m.room}:${m.seq}:${m.cid}`)));
  // Every stream message, late copies included, was acknowledged as stored exactly once.
  // Counted by the stream's last seq: the queue's retention may trim stored messages meanwhile.
  const { state } = await (await nc.jetstreamManager()).streams.info(queue.names.stream);
  expect(state.last_seq).toBeGreaterThan(10_001);
  expect(await metricValue(registry, 'parley_persist_messages_total')).toBe(state.messages);
  expect(await metricValue(registry, 'parley_persist_dead_letters_total')).toBe(0);
  expect(await queue.lastSeq('bulk.3')).toBe(500);
  expect(await deadLetters(nc, prefix)).toEqual([]);
}, 200_000);

it('a message whose (room, seq) holds another message is dead-lettered as a conflict; its batch is stored', async () => {
  const { prefix, queue, store, registry, worker } = await setup('pw_conflict');
  await store.put([message('p.x', 2, { from: 'eve', cid: 'first' })]);
  await worker();
  for (const seq of [1, 2, 3]) await queue.publish(message('p.x', seq));
  await eventually('one dead letter', async () => (await metricValue(registry, 'parley_persist_dead_letters_total', { reason: 'conflict' })) === 1);
  const [dead, ...more] = await deadLetters(nc, prefix);
  expect(more).toEqual([]);
  expect(dead?.subject).toBe(`${prefix}.dead.p~x`);
  expect(dead?.header.get('Parley-Dead-Reason')).toBe('conflict');
  expect(dead?.header.get('Parley-Dead-Detail')).toBe('seq-taken: stored seq 2 from eve cid first');
  expect(dead?.header.get('Parley-Subject')).toBe(persistSubject(prefix, 'p.x'));
  expect(JSON.parse(new TextDecoder().decode(dead?.data))).toEqual(message('p.x', 2));
  expect(await metricValue(registry, 'parley_persist_conflicts_total')).toBe(1);
  await eventually('seq 1 and 3 stored', async () => (await store.range('p.x', 1, 3)).length === 3);
  expect((await store.range('p.x', 1, 3)).map((m) => `${m.seq}:${m.from}`)).toEqual(['1:alice', '2:eve', '3:alice']);
});

it('invalid JSON, or a message on another room’s subject, is dead-lettered as unparseable', async () => {
  const { prefix, queue, store, registry, worker } = await setup('pw_poison');
  await worker();
  const js = nc.jetstream();
  await js.publish(persistSubject(prefix, 'q'), new TextEncoder().encode('{not json'));
  await js.publish(persistSubject(prefix, 'q'), new TextEncoder().encode(JSON.stringify(message('elsewhere', 1))));
  await queue.publish(message('q', 1));
  await eventually('two dead letters', async () => (await metricValue(registry, 'parley_persist_dead_letters_total', { reason: 'unparseable' })) === 2);
  const dead = await deadLetters(nc, prefix);
  expect(dead.map((d) => [d.subject, d.header.get('Parley-Dead-Reason')])).toEqual(
    expect.arrayContaining([
      [`${prefix}.dead._unreadable`, 'unparseable'],
      [`${prefix}.dead.elsewhere`, 'unparseable'],
    ]),
  );
  expect(dead.map((d) => d.header.get('Parley-Dead-Detail')).join('|')).toMatch(/not JSON.*\|room elsewhere does not match|room elsewhere does not match.*\|not JSON/);
  await eventually('the valid message stored', async () => (await store.range('q', 1, 1)).length === 1);
});

it('a message the store refuses is nak-ed with a delay and dead-lettered on its MAX_DELIVER-th failure', async () => {
  const { prefix, queue, store, registry, worker } = await setup('pw_maxdeliver', 3, { nakDelaysMs: [50, 100] });
  await worker();
  // FerretDB refuses a NUL character in a string (see persist-mongo-store.test.ts).
  await queue.publish(message('m', 1, { body: 'bad\u0000' }));
  await queue.publish(message('m', 2));
  await eventually('dead-lettered after 3 deliveries', async () => (await metricValue(registry, 'parley_persist_dead_letters_total', { reason: 'max-deliver' })) === 1);
  const [dead] = await deadLetters(nc, prefix);
  expect(dead?.header.get('Parley-Deliveries')).toBe('3');
  expect(dead?.header.get('Parley-Dead-Detail')).toMatch(/^failed 3 times, last: m:1 refused: .*Unicode/);
  expect(await metricValue(registry, 'parley_persist_failures_total', { kind: 'rejected' })).toBe(3);
  expect((await store.range('m', 1, 2)).map((m) => m.seq)).toEqual([2]);
});

it('while the store is unreachable the batch is held and retried, spending no deliveries', async () => {
  const { queue, store, registry, worker } = await setup('pw_transient', 2, { retryMinMs: 20, retryMaxMs: 40 });
  let outage = 6;
  const flaky: PersistTarget = {
    putChecked: (messages) => (outage-- > 0 ? Promise.reject(new MongoNetworkError('connection refused')) : store.putChecked(messages)),
    putReads: (pointers) => store.putReads(pointers),
    isTransient: (err) => store.isTransient(err),
  };
  await worker(flaky);
  for (const seq of [1, 2, 3]) await queue.publish(message('t', seq));
  await eventually('stored after the outage', async () => (await store.range('t', 1, 3)).length === 3);
  expect(await metricValue(registry, 'parley_persist_failures_total', { kind: 'transient' })).toBeGreaterThanOrEqual(6);
  expect(await metricValue(registry, 'parley_persist_dead_letters_total')).toBe(0);
  const info = await (await nc.jetstreamManager()).consumers.info(queue.names.stream, queue.names.consumer);
  expect(info.num_redelivered).toBe(0);
});

it('a message delivered once more than MAX_DELIVER (its workers died holding it) is dead-lettered unprocessed', async () => {
  const { prefix, queue, store, registry, worker } = await setup('pw_crashloop', 1);
  await queue.publish(message('cl', 1));
  await ensurePersistConsumer(await nc.jetstreamManager(), queue.names, { ackWaitMs: 30_000, maxDeliver: 1, maxAckPending: 100 });
  // A worker that died before acking, by hand: its delivery comes back.
  const first = await (await nc.jetstream().consumers.get(queue.names.stream, queue.names.consumer)).next({ expires: 5_000 });
  expect(first?.info.deliveryCount).toBe(1);
  first?.nak();
  await worker();
  await eventually('dead-lettered', async () => (await metricValue(registry, 'parley_persist_dead_letters_total', { reason: 'max-deliver' })) === 1);
  const [dead] = await deadLetters(nc, prefix);
  expect(dead?.header.get('Parley-Dead-Detail')).toBe('delivered 2 times');
  expect(await store.range('cl', 1, 1)).toEqual([]);
});
