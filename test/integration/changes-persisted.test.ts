import { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { TestNode } from '../helpers/node.js';
import type { PrivateRedis } from '../helpers/services-private.js';
import { eventually, persistedGateway } from './persist-support.js';

/**
 * Message changes with the whole durable path (private Redis, JetStream, MongoDB through a
 * worker; docs/protocol.md "Persistence"): the worker folds changes into the stored messages, a
 * delete removes bodies from MongoDB, messages older than the recent buffer are changed from
 * their stored state, and a Redis that loses everything keeps the rules (a reaction stays once
 * per user) from MongoDB.
 */
describe('message changes with persistence', () => {
  const gateway = persistedGateway('pchg', { RECENT_MAX: '5' });
  let node: TestNode;
  let redis: PrivateRedis;
  let database: Db;
  let prefix: string;
  beforeAll(() => {
    ({ node, redis, database, prefix } = gateway());
  });

  const doc = (room: string, seq: number) => database.collection('messages').findOne({ room, seq }, { projection: { _id: 0 } });
  const stored = (room: string, n: number) =>
    eventually(`${n} events of ${room} stored`, async () => {
      const count = await database.collection('messages').countDocuments({ room });
      return { ok: count >= n, seen: count };
    });
  const ok = async (c: TestClient, t: string, payload: Record<string, unknown>) => {
    const r = await c.request(t, payload);
    if (!r.ok) throw new Error(`${t} failed: ${JSON.stringify(r.error)}`);
    return r.data as { seq: number; ts: number; dup: boolean };
  };

  it('the worker folds edits, reactions and replies into the stored message; a delete leaves no body in MongoDB', async () => {
    const room = 'folded';
    const a = await TestClient.connect('ws', node, await node.token('ann'));
    const b = await TestClient.connect('sio', node, await node.token('bob'));
    await a.join(room);
    await b.join(room);
    const m = await a.send(room, 'm1', 'first words');
    await ok(a, 'edit', { room, cid: 'e1', target: m.seq, body: 'second words', meta: { x: 1 } });
    await ok(b, 'react', { room, cid: 'k1', target: m.seq, reaction: '👍' });
    const reply = await ok(b, 'send', { room, cid: 'r1', body: 'a reply', parent: m.seq });
    await stored(room, 4);
    await eventually('the reply folded', async () => ({ ok: ((await doc(room, m.seq))?.['reps'] as unknown[] | undefined)?.length === 1, seen: await doc(room, m.seq) }));
    expect(await doc(room, m.seq)).toMatchObject({ body: 'second words', meta: '{"x":1}', v: 2, es: 2, reps: [reply.seq] });
    const del = await ok(a, 'delete', { room, cid: 'd1', target: m.seq });
    await eventually('the delete folded', async () => ({ ok: (await doc(room, m.seq))?.['del'] === del.seq, seen: await doc(room, m.seq) }));
    const message = await doc(room, m.seq);
    expect(message).toMatchObject({ body: '', v: 3, del: del.seq });
    expect(message && 'meta' in message).toBe(false);
    expect(await doc(room, 2)).toMatchObject({ op: 'edit', body: '' });
    a.close();
    b.close();
  });

  it('a message older than the recent buffer is changed from its stored state; a join since recovers the changes past the buffer', async () => {
    const room = 'old';
    const a = await TestClient.connect('ws', node, await node.token('ann'));
    const joined = await a.join(room);
    const old = await a.send(room, 'm1', 'old message');
    for (let i = 2; i <= 8; i++) await a.send(room, `m${i}`, `filler ${i}`);
    await stored(room, 8);
    const react = await ok(a, 'react', { room, cid: 'k1', target: old.seq, reaction: 'ok' });
    expect(react.seq).toBe(9);
    // Held: the user has it already, whatever the buffer no longer holds.
    expect(await ok(a, 'react', { room, cid: 'k2', target: old.seq, reaction: 'ok' })).toEqual({ room, cid: 'k2', seq: 9, ts: react.ts, dup: true });
    const edit = await ok(a, 'edit', { room, cid: 'e1', target: old.seq, body: 'old message, edited' });
    const b = await TestClient.connect('sio', node, await node.token('bob'));
    const back = await b.join(room, { since: 0, epoch: joined.epoch });
    expect(back.recovered).toBe(true);
    expect(back.messages[0]).toMatchObject({ seq: old.seq, body: 'old message, edited', version: 2, reactions: { ok: { count: 1, users: ['ann'] } }, changed: edit.seq });
    expect(back.changes.map((c: { seq: number }) => c.seq)).toEqual([9, 10]);
    a.close();
    b.close();
  });

  it('after Redis loses everything, history shows the latest versions, and a deleted body does not come back', async () => {
    const room = 'restored';
    const a = await TestClient.connect('ws', node, await node.token('ann'));
    await a.join(room);
    const m1 = await a.send(room, 'm1', 'first');
    const m2 = await a.send(room, 'm2', 'second, secret');
    await ok(a, 'edit', { room, cid: 'e1', target: m1.seq, body: 'first, edited' });
    await ok(a, 'react', { room, cid: 'k1', target: m1.seq, reaction: 'ok' });
    const del = await ok(a, 'delete', { room, cid: 'd1', target: m2.seq });
    await stored(room, 5);
    expect(await redis.command('FLUSHALL')).toBe('+OK');
    const page = await a.request('history', { room });
    expect(page.data.messages).toEqual([
      expect.objectContaining({ seq: m1.seq, body: 'first, edited', version: 2, reactions: { ok: { count: 1, users: ['ann'] } } }),
      expect.objectContaining({ seq: m2.seq, body: '', deleted: true, version: 2, changed: del.seq }),
    ]);
    // Nothing of the deleted body in Redis, restored buffer included.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const recent = await client.zrange(`{${prefix}:${room}}:recent`, 0, -1);
      expect(recent).toHaveLength(5);
      expect(recent.join('\n')).not.toContain('secret');
    } finally {
      client.disconnect();
    }
    a.close();
  });

  it('after Redis loses everything, a reaction is still once per user, and the author still the author', async () => {
    const room = 'flushed';
    const a = await TestClient.connect('ws', node, await node.token('ann'));
    await a.join(room);
    const m = await a.send(room, 'm1', 'hello');
    const first = await ok(a, 'react', { room, cid: 'k1', target: m.seq, reaction: 'ok' });
    await stored(room, 2);
    await eventually('the reaction folded', async () => ({ ok: (await doc(room, m.seq))?.['chg'] === first.seq, seen: await doc(room, m.seq) }));
    expect(await redis.command('FLUSHALL')).toBe('+OK');
    expect(await ok(a, 'react', { room, cid: 'k2', target: m.seq, reaction: 'ok' })).toMatchObject({ seq: first.seq, dup: true });
    const b = await TestClient.connect('ws', node, await node.token('bob'));
    await b.join(room);
    const forbidden = await b.request('edit', { room, cid: 'e1', target: m.seq, body: 'not mine' });
    expect(forbidden.error?.code).toBe('forbidden');
    const second = await ok(b, 'react', { room, cid: 'k3', target: m.seq, reaction: 'ok' });
    expect(second.seq).toBe(first.seq + 1);
    const page = await b.request('history', { room });
    expect(page.data.messages[0]).toMatchObject({ seq: m.seq, reactions: { ok: { count: 2, users: ['ann', 'bob'] } } });
    a.close();
    b.close();
  });
});
