import type { Db } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { TestNode } from '../helpers/node.js';
import type { PrivateRedis } from '../helpers/services-private.js';
import { eventually, persistedGateway } from './persist-support.js';

/**
 * A gateway with the whole durable path (private Redis, JetStream, MongoDB through a worker):
 * acknowledged messages reach MongoDB once each, recovery reaches past the recent buffer, and
 * a Redis that loses everything does not cost a room its epoch or reuse a seq.
 */
describe('gateway with persistence', () => {
  const gateway = persistedGateway('pgw', { RECENT_MAX: '5', RECOVERY_MAX: '100' });
  let node: TestNode;
  let redis: PrivateRedis;
  let database: Db;
  beforeAll(() => {
    ({ node, redis, database } = gateway());
  });

  const storedSeqs = async (room: string): Promise<number[]> =>
    (await database.collection('messages').find({ room }, { projection: { _id: 0, seq: 1 } }).sort({ seq: 1 }).toArray()).map((d) => d['seq'] as number);
  const until = (room: string, n: number) =>
    eventually(`${n} messages of ${room} stored`, async () => {
      const seqs = await storedSeqs(room);
      return { ok: seqs.length >= n, seen: seqs.length };
    });

  it('stores every acknowledged message once, and recovers past the recent buffer from MongoDB', async () => {
    const room = 'durable';
    const a = await TestClient.connect('ws', node, await node.token('alice'));
    const joined = await a.join(room);
    for (let i = 1; i <= 30; i++) await a.send(room, `c${i}`, `message ${i}`);
    // Resends of acknowledged cids are dups and are not stored again.
    for (const i of [3, 17, 30]) expect((await a.send(room, `c${i}`, 'again')).dup).toBe(true);
    await until(room, 30);
    expect(await storedSeqs(room)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    const b = await TestClient.connect('sio', node, await node.token('bob'));
    const back = await b.join(room, { since: 2, epoch: joined.epoch });
    expect(back.recovered).toBe(true);
    expect(back.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: 28 }, (_, i) => i + 3));
    const page = await b.request('history', { room, before: 10, limit: 4 });
    expect(page.data.messages.map((m: { seq: number }) => m.seq)).toEqual([6, 7, 8, 9]);
    expect(page.data.more).toBe(true);
    a.close();
    b.close();
  });

  it('keeps the epoch and continues the seq after Redis loses everything', async () => {
    const room = 'flushed';
    const a = await TestClient.connect('ws', node, await node.token('carol'));
    const before = await a.join(room);
    for (let i = 1; i <= 10; i++) await a.send(room, `f${i}`, `before ${i}`);
    expect(await redis.command('FLUSHALL')).toBe('+OK');

    const sent = await a.send(room, 'f11', 'after the flush');
    expect(sent.seq).toBe(11);
    expect(sent.dup).toBe(false);
    const again = await a.join(room);
    expect(again.epoch).toBe(before.epoch);
    expect(again.head).toBe(11);
    for (let i = 12; i <= 15; i++) expect((await a.send(room, `f${i}`, `after ${i}`)).seq).toBe(i);
    await until(room, 15);
    expect(await storedSeqs(room)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    a.close();
  });

  it('keeps read pointers through a Redis that loses everything', async () => {
    const room = 'pointers';
    const a = await TestClient.connect('ws', node, await node.token('dora'));
    await a.join(room);
    for (let i = 1; i <= 6; i++) await a.send(room, `p${i}`, `message ${i}`);
    expect((await a.request('read', { room, seq: 4 })).data).toEqual({ room, seq: 4 });
    await eventually('the read pointer stored', async () => {
      const doc = await database.collection('reads').findOne({ room, user: 'dora' });
      return { ok: doc?.['seq'] === 4, seen: doc };
    });
    expect(await redis.command('FLUSHALL')).toBe('+OK');
    const again = await a.join(room);
    expect(again).toMatchObject({ head: 6, lastRead: 4, unread: 2 });
    // Restored into the room state too: it is never lowered from there.
    expect((await a.request('read', { room, seq: 2 })).data).toEqual({ room, seq: 4 });
    a.close();
  });
});
