// Messages/s the persist worker moves from JetStream into MongoDB, beside a raw insertMany of
// the same documents into the same server in the same run. Needs NATS (JetStream) on :4222 and
// MongoDB (FerretDB) on :27017: `bash scripts/services.sh`. Sizes: PERSIST_BENCH_N (default
// 20000) and PERSIST_BENCH_UPSERT_N (default 3000, the worker with the store in 'upsert' mode).
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { connect, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { JetStreamQueue } from '../src/bus/jetstream-queue.js';
import { MongoMessageStore } from '../src/persistence/mongo-store.js';
import type { ChatMessage } from '../src/domain/messages.js';
import { createLogger } from '../src/shared/logger.js';
import { PersistWorker } from '../src/workers/persist-worker.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const MONGO_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const N = Number(process.env.PERSIST_BENCH_N ?? 20_000);
const UPSERT_N = Number(process.env.PERSIST_BENCH_UPSERT_N ?? 3_000);
const ROOMS = 20;
const DEADLINE_MS = 600_000;
const logger = createLogger('warn');

function messages(n: number): ChatMessage[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    room: `bench.${i % ROOMS}`,
    seq: Math.floor(i / ROOMS) + 1,
    cid: `c-${i}`,
    from: `user${i % 50}`,
    body: `message number ${i}: ${'lorem ipsum '.repeat(6)}`,
    ts: now + i,
  }));
}

const name = (what: string) => `bench_${what}_${randomBytes(4).toString('hex')}`;

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Row {
  what: string;
  messages: number;
  seconds: number;
  perSecond: number;
}

/** Publishes `list` to a fresh queue, then times one worker from start until all are stored. */
async function workerRun(nc: NatsConnection, mongo: MongoClient, list: ChatMessage[], write: 'insert' | 'upsert'): Promise<{ row: Row; publishPerSecond: number }> {
  const prefix = name(`worker_${write}`);
  const queue = new JetStreamQueue({ nats: nc, prefix, logger });
  await queue.start();
  const store = new MongoMessageStore({ url: MONGO_URL, dbName: prefix, write });
  await store.start();
  const coll = mongo.db(prefix).collection('messages');
  try {
    const p0 = performance.now();
    for (let i = 0; i < list.length; i += 200) await Promise.all(list.slice(i, i + 200).map((m) => queue.publish(m)));
    const publishPerSecond = list.length / ((performance.now() - p0) / 1000);
    const registry = new Registry();
    const worker = new PersistWorker({ nc, prefix, store, logger, registry, maxDeliver: 5 });
    const persisted = async () => (await registry.getSingleMetricAsString('parley_persist_messages_total')).match(/_total (\d+)/)?.[1];
    const t0 = performance.now();
    await worker.start();
    // The worker's own counter (acks after the write) tells when it is done without loading the database.
    await until(`${list.length} messages stored`, async () => Number(await persisted()) >= list.length);
    const seconds = (performance.now() - t0) / 1000;
    await worker.close();
    const stored = await coll.countDocuments();
    if (stored !== list.length) throw new Error(`the worker acknowledged ${list.length} messages but ${stored} are stored`);
    return { row: { what: `PersistWorker (${write})`, messages: list.length, seconds, perSecond: list.length / seconds }, publishPerSecond };
  } finally {
    await store.close();
    await queue.close();
    const jsm = await nc.jetstreamManager();
    for (const s of [queue.names.stream, queue.names.deadStream]) await jsm.streams.delete(s);
    await mongo.db(prefix).dropDatabase();
  }
}

/** The same documents, same indexes, one insertMany: the ceiling the worker is measured against. */
async function rawRun(mongo: MongoClient, list: ChatMessage[]): Promise<Row> {
  const db = name('raw');
  const coll = mongo.db(db).collection('messages');
  await coll.createIndex({ room: 1, seq: 1 }, { name: 'room_seq', unique: true });
  try {
    const docs = list.map((m) => ({ ...m, at: new Date(m.ts) }));
    const t0 = performance.now();
    await coll.insertMany(docs, { ordered: false });
    const seconds = (performance.now() - t0) / 1000;
    return { what: 'raw insertMany', messages: list.length, seconds, perSecond: list.length / seconds };
  } finally {
    await mongo.db(db).dropDatabase();
  }
}

async function main(): Promise<void> {
  const nc = await connect({ servers: NATS_URL, name: 'parley-bench' });
  const mongo = await new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5_000 }).connect();
  try {
    const list = messages(N);
    const raw = await rawRun(mongo, list);
    const insert = await workerRun(nc, mongo, list, 'insert');
    const upsert = await workerRun(nc, mongo, messages(UPSERT_N), 'upsert');
    const rows = [raw, insert.row, upsert.row];
    const ratio = insert.row.perSecond / raw.perSecond;
    console.table(rows.map((r) => ({ what: r.what, messages: r.messages, seconds: r.seconds.toFixed(2), 'msgs/s': Math.round(r.perSecond) })));
    console.log(`worker (insert) / raw insertMany: ${ratio.toFixed(2)}; queue publish rate: ${Math.round(insert.publishPerSecond)} msgs/s`);
    const result = {
      bench: 'persist-worker',
      at: new Date().toISOString(),
      node: process.version,
      mongo: (await mongo.db('admin').command({ buildInfo: 1 })) as Record<string, unknown>,
      rows,
      ratio,
      publishPerSecond: insert.publishPerSecond,
    };
    result.mongo = { version: result.mongo.version, ferretdbVersion: result.mongo.ferretdbVersion };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/persist-worker.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify({ ratio, rows: rows.map((r) => ({ what: r.what, perSecond: Math.round(r.perSecond) })) }));
  } finally {
    await mongo.close();
    await nc.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
