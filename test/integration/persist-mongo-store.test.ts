import type { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MongoMessageStore } from '../../src/persistence/mongo-store.js';
import { StoreWriteError } from '../../src/persistence/mongo-writes.js';
import { requireMongo, uniquePrefix } from '../helpers/services.js';
import { message, mongoClient, MONGO_URL } from './persist-support.js';

let admin: MongoClient;
const dbs: string[] = [];
const stores: MongoMessageStore[] = [];

beforeAll(async () => {
  await requireMongo();
  admin = await mongoClient();
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const db of dbs.splice(0)) await admin.db(db).dropDatabase();
});
afterAll(async () => {
  await admin?.close();
});

async function open(write: 'insert' | 'upsert'): Promise<{ store: MongoMessageStore; db: string }> {
  const db = uniquePrefix(`mstore_${write}`);
  dbs.push(db);
  const store = new MongoMessageStore({ url: MONGO_URL, dbName: db, write });
  stores.push(store);
  await store.start();
  return { store, db };
}

describe.each(['insert', 'upsert'] as const)('MongoMessageStore (%s)', (write) => {
  it('keys messages by a unique (room, seq) only, and starting twice is harmless', async () => {
    const { store, db } = await open(write);
    const again = new MongoMessageStore({ url: MONGO_URL, dbName: db, write });
    stores.push(again);
    await again.start();
    await store.start();
    const indexes = await admin.db(db).collection('messages').indexes();
    expect(indexes.filter((i) => i.unique).map((i) => ({ key: i.key, name: i.name }))).toEqual([{ key: { room: 1, seq: 1 }, name: 'room_seq' }]);
  });

  it('drops the unique (room, from, cid) index of an earlier version at start-up, also when two start at once', async () => {
    const db = uniquePrefix(`mstore_old_${write}`);
    dbs.push(db);
    const coll = admin.db(db).collection('messages');
    await coll.createIndex({ room: 1, seq: 1 }, { name: 'room_seq', unique: true });
    await coll.createIndex({ room: 1, from: 1, cid: 1 }, { name: 'room_from_cid', unique: true });
    await coll.insertOne({ room: 'old', seq: 1, cid: 'same', from: 'alice', body: 'm1', ts: 1, at: new Date(1) });
    const starting = [1, 2].map(() => new MongoMessageStore({ url: MONGO_URL, dbName: db, write }));
    stores.push(...starting);
    await Promise.all(starting.map((s) => s.start()));
    expect((await coll.indexes()).map((i) => i.name).sort()).toEqual(['_id_', 'from_room_seq', 'room_parent_seq', 'room_seq', 'room_target']);
    await starting[0]?.put([message('old', 2, { cid: 'same' })]);
    expect((await starting[0]?.range('old', 1, 9))?.map((m) => `${m.seq}:${m.cid}`)).toEqual(['1:same', '2:same']);
  });

  it('stores ts as a number and at as a Date', async () => {
    const { store, db } = await open(write);
    await store.put([message('h', 1)]);
    const doc = await admin.db(db).collection('messages').findOne({ room: 'h', seq: 1 });
    expect(doc?.ts).toBe(1_700_000_000_001);
    expect(doc?.at).toEqual(new Date(1_700_000_000_001));
  });

  it('reports another message under a taken (room, seq) as a conflict and keeps the first', async () => {
    const { store } = await open(write);
    await store.put([message('c', 1), message('c', 2)]);
    const intruder = message('c', 2, { cid: 'other', body: 'not me' });
    const fine = [message('c', 3), message('c', 4)];
    const result = await store.putChecked([message('c', 1), intruder, ...fine]);
    expect(result.rejected).toEqual([]);
    expect(result.conflicts).toEqual([{ message: intruder, reason: 'seq-taken', existing: { seq: 2, from: 'alice', cid: 'c2' } }]);
    expect(result.conflicts[0]?.message).toBe(intruder);
    expect((await store.range('c', 1, 9)).map((m) => `${m.seq}:${m.cid}`)).toEqual(['1:c1', '2:c2', '3:c3', '4:c4']);
  });

  it('stores a (room, from, cid) already stored under another seq as a second message', async () => {
    const { store } = await open(write);
    await store.put([message('d', 1, { cid: 'same' })]);
    const again = message('d', 7, { cid: 'same' });
    const otherSender = message('d', 8, { cid: 'same', from: 'bob' });
    const result = await store.putChecked([again, message('d', 2), otherSender]);
    expect(result).toEqual({ conflicts: [], rejected: [], unfolded: [] });
    expect((await store.range('d', 1, 9)).map((m) => `${m.seq}:${m.from}:${m.cid}`)).toEqual(['1:alice:same', '2:alice:c2', '7:alice:same', '8:bob:same']);
  });

  it('put throws StoreWriteError listing what it could not store, after storing the rest', async () => {
    const { store } = await open(write);
    await store.put([message('e', 1)]);
    const intruder = message('e', 1, { from: 'mallory' });
    const err = await store.put([intruder, message('e', 2)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreWriteError);
    expect((err as StoreWriteError).result.conflicts.map((c) => c.message)).toEqual([intruder]);
    expect((await store.range('e', 1, 9)).map((m) => `${m.seq}:${m.from}`)).toEqual(['1:alice', '2:alice']);
  });

  // FerretDB (PostgreSQL jsonb) refuses a NUL character in a string; MongoDB would store it.
  it('rejects a message the database refuses (a NUL in the body, on FerretDB) and stores the others', async () => {
    const { store } = await open(write);
    const bad = message('f', 2, { body: 'a\u0000b' });
    const result = await store.putChecked([message('f', 1), bad, message('f', 3)]);
    expect(result.conflicts).toEqual([]);
    expect(result.rejected.map((r) => r.message)).toEqual([bad]);
    expect((await store.range('f', 1, 9)).map((m) => m.seq)).toEqual([1, 3]);
  });

  it('keeps meta keys that are not legal field names ($x, a.b)', async () => {
    const { store } = await open(write);
    const odd = message('g', 1, { meta: { $where: 'x', 'a.b': { $c: [1, 2] } } });
    expect((await store.putChecked([odd])).rejected).toEqual([]);
    expect(await store.range('g', 1, 1)).toEqual([odd]);
  });
});

it('stores read pointers that only ever rise, whatever order and repeats they come in', async () => {
  const { store } = await open('insert');
  expect(await store.lastRead('r', 'ann')).toBe(0);
  await store.putReads([{ room: 'r', user: 'ann', seq: 5 }, { room: 'r', user: 'bob', seq: 2 }]);
  await store.putReads([{ room: 'r', user: 'ann', seq: 3 }, { room: 'r', user: 'ann', seq: 5 }, { room: 'q', user: 'ann', seq: 9 }]);
  await Promise.all([7, 6, 7].map((seq) => store.putReads([{ room: 'r', user: 'bob', seq }])));
  expect([await store.lastRead('r', 'ann'), await store.lastRead('r', 'bob'), await store.lastRead('q', 'ann')]).toEqual([5, 7, 9]);
});

it('tells an unreachable server (transient) from a refused write', async () => {
  const store = new MongoMessageStore({ url: 'mongodb://127.0.0.1:1', dbName: 'never', serverSelectionTimeoutMS: 300 });
  const err = await store.putChecked([message('t', 1)]).catch((e: unknown) => e);
  expect(store.isTransient(err)).toBe(true);
  expect(store.isTransient(new Error('boom'))).toBe(false);
  await store.close();
  const unreachable = new MongoMessageStore({ url: 'mongodb://127.0.0.1:1', serverSelectionTimeoutMS: 300 });
  const started = await unreachable.start().catch((e: unknown) => e);
  expect(String(started)).toMatch(/opening the message store parley\.messages failed/);
  await unreachable.close();
});

describe('MongoMessageStore.lastPosition', () => {
  it('answers the newest epoch, its highest seq and the messages within the tail window, oldest first', async () => {
    const db = uniquePrefix('mstore_tail');
    dbs.push(db);
    const store = new MongoMessageStore({ url: MONGO_URL, dbName: db, tailMs: 1_000 });
    stores.push(store);
    await store.start();
    expect(await store.lastPosition('t')).toBeUndefined();
    const at = (seq: number, ts: number) => ({ ...message('t', seq), ts, epoch: 'E1' });
    await store.put([at(1, 1_000), at(2, 5_000), at(3, 5_500), at(4, 6_000)]);
    const tail = await store.lastPosition('t');
    expect(tail).toEqual({ epoch: 'E1', seq: 4, messages: [2, 3, 4].map((seq) => ({ ...message('t', seq), ts: seq === 2 ? 5_000 : seq === 3 ? 5_500 : 6_000 })) });
  });
});
