import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageDoc } from '../../src/persistence/mongo-docs.js';
import { ensureTtlIndex, sweepExpired } from '../../src/persistence/mongo-retention.js';
import { Retention } from '../../src/domain/retention.js';
import { RedisRoomState } from '../../src/rooms/state/redis-room-state.js';
import { RecentRetention } from '../../src/rooms/state/redis-retention.js';
import { createLogger } from '../../src/shared/logger.js';
import { deleteKeys } from '../contract/redis-support.js';
import { requireMongo, requireRedis, uniquePrefix } from '../helpers/services.js';

/**
 * RETENTION_DAYS in each store (docs/operations.md, "Retention"), with a clock of the test's own:
 * MongoDB's TTL index where the server has one (FerretDB v1 has none: the worker's sweep then),
 * the bounded sweep of expired documents, and the sweep of the Redis recent buffers.
 */
const DAY = 86_400_000;
const NOW = 1_800_000_000_000;
const logger = createLogger('silent');

describe('retention in MongoDB', () => {
  const db = uniquePrefix('ret-mongo');
  let client: MongoClient;
  beforeAll(async () => {
    await requireMongo();
    client = await new MongoClient('mongodb://127.0.0.1:27017', { serverSelectionTimeoutMS: 5_000 }).connect();
  });
  afterAll(async () => {
    await client.db(db).dropDatabase();
    await client.close();
  });

  const doc = (room: string, seq: number, ts: number): MessageDoc => ({ room, seq, cid: `c${seq}`, from: 'ann', body: `m${seq}`, ts, at: new Date(ts) });

  it('takes a TTL index where the server has them, else indexes `at` for the sweep; the sweep deletes only expired documents, a bounded number at a time', async () => {
    const docs = client.db(db).collection<MessageDoc>('messages');
    const how = await ensureTtlIndex(docs, 30 * DAY);
    const names = (await docs.indexes()).map((i) => i.name);
    if (how === 'ttl') expect(names).toContain('at_ttl');
    else expect(names).toContain('at');
    // Twice is the same (start-up of every worker).
    expect(await ensureTtlIndex(docs, 30 * DAY)).toBe(how);

    await docs.insertMany([1, 2, 3, 4, 5].map((seq) => doc('r', seq, NOW - 40 * DAY + seq)).concat([doc('r', 6, NOW - DAY), doc('q', 1, NOW - 31 * DAY)]));
    const cutoff = new Retention(30 * DAY, () => NOW).cutoff();
    expect(await sweepExpired(docs, cutoff, 4)).toBe(4);
    expect(await sweepExpired(docs, cutoff, 4)).toBe(2);
    expect(await sweepExpired(docs, cutoff, 4)).toBe(0);
    expect((await docs.find({}, { projection: { _id: 0, room: 1, seq: 1 } }).toArray()).map((d) => `${d.room}:${d.seq}`)).toEqual(['r:6']);

    // Retention off: the TTL index goes (a sweep index is harmless and stays).
    expect(await ensureTtlIndex(docs, 0)).toBe('none');
    expect((await docs.indexes()).map((i) => i.name)).not.toContain('at_ttl');
  });
});

describe('retention in the Redis recent buffers', () => {
  let redis: Redis;
  const prefix = uniquePrefix('ret-redis');
  beforeAll(async () => {
    await requireRedis();
    redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await deleteKeys(redis, `{${prefix}*`);
    await redis.quit();
  });

  it('the sweep drops the messages before the cutoff and their summaries from every buffer, and nothing newer; again, it drops nothing', async () => {
    const state = new RedisRoomState(redis, { prefix, recentMax: 500 });
    await state.start();
    const sent: Record<string, number[]> = { a: [], b: [] };
    // 150 old messages in room a (more than one chunk of the sweep), 3 new; 2 old and 1 new in b.
    const plan: [string, number][] = [...Array.from({ length: 150 }, (): [string, number] => ['a', NOW - 40 * DAY]), ['a', NOW - DAY], ['a', NOW - DAY], ['a', NOW], ['b', NOW - 31 * DAY], ['b', NOW - 31 * DAY]];
    for (const [i, [room, ts]] of plan.entries()) {
      const r = await state.append({ room, from: 'ann', cid: `c${i}`, body: `m${i}`, ts }, 600);
      await state.commit(room, r.epoch, [r.message]);
      sent[room]?.push(r.message.seq);
    }
    // An old edit: the summary of b's message 1 holds its body.
    const edit = await state.change({ room: 'b', from: 'ann', cid: 'ed', ts: NOW - 31 * DAY, op: 'edit', target: 1, body: 'edited long ago' }, { dedupeTtlS: 600, usersShown: 10, kindsPerMessage: 20 });
    if (edit.kind !== 'appended') throw new Error(`the edit was ${edit.kind}`);
    await state.commit('b', edit.epoch, [edit.message]);
    const last = await state.append({ room: 'b', from: 'ann', cid: 'new', body: 'new', ts: NOW - 1000 }, 600);
    await state.commit('b', last.epoch, [last.message]);
    expect((await state.summaries('b', [1])).get(1)?.edit?.body).toBe('edited long ago');
    const sweep = new RecentRetention({ redis, prefix, retentionMs: 30 * DAY, now: () => NOW, logger });
    expect(await sweep.sweep()).toBe(153);
    expect((await state.range('a', 1, 1000)).map((m) => m.seq)).toEqual([151, 152, 153]);
    expect((await state.range('b', 1, 1000)).map((m) => m.seq)).toEqual([4]);
    expect((await state.summaries('b', [1])).size).toBe(0);
    expect(await sweep.sweep()).toBe(0);
    // The counter is untouched: the next message takes the next seq.
    expect((await state.append({ room: 'b', from: 'ann', cid: 'next', body: 'x', ts: NOW }, 600)).message.seq).toBe(5);
    await state.close();
  });
});
