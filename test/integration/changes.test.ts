import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys } from '../contract/redis-support.js';
import { KINDS, type TestClient } from '../helpers/clients.js';
import { nodeFor, trackedClients } from '../helpers/fixtures.js';
import { uniquePrefix } from '../helpers/services.js';

/**
 * docs/protocol.md, "Message changes", on one node of each storage mode: edits, deletes,
 * reactions and threads as events of the room's sequence, their rules, the `change` push, and
 * join recovery and history with the summaries folded in.
 */

const connect = trackedClients();

/** The data of a successful request; fails the test with the error otherwise. */
async function ok(c: TestClient, t: string, payload: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await c.request(t, payload);
  if (!r.ok) throw new Error(`${t} ${JSON.stringify(payload)} failed: ${JSON.stringify(r.error)}`);
  return r.data as Record<string, any>;
}

async function refused(c: TestClient, t: string, payload: Record<string, unknown>): Promise<string | undefined> {
  const r = await c.request(t, payload);
  expect(r.ok, `${t} ${JSON.stringify(payload)}`).toBe(false);
  return r.error?.code;
}

const PREFIX = uniquePrefix('chg');
const MODES: [string, Record<string, string>][] = [
  ['embedded', {}],
  ['Redis', { REDIS_URL: 'redis://127.0.0.1:6379', KEY_PREFIX: PREFIX }],
];

afterAll(async () => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  await deleteKeys(redis, `*${PREFIX}*`).finally(() => redis.quit());
});

describe.each(MODES)('message changes, %s', (_mode, env) => {
  const node = nodeFor({ MAX_REACTIONS_PER_MESSAGE: '2', REACTION_USERS_SHOWN: '2', ...env });

  describe.each(KINDS)('%s', (kind) => {
    const room = `chg-${kind}-${Date.now()}`;
    const client = (user: string) => connect(node(), kind, user);

    it('edit, delete, react and unreact take the next seqs and reach every member as change pushes', async () => {
      const a = await client('ann');
      const b = await client('bob');
      await a.join(room);
      await b.join(room);
      const m = await a.send(room, 'm1', 'hello');
      expect(await ok(a, 'edit', { room, cid: 'e1', target: m.seq, body: 'hello, bob', meta: { k: 1 } })).toMatchObject({ seq: m.seq + 1, dup: false });
      expect(await ok(b, 'react', { room, cid: 'r1', target: m.seq, reaction: '👍' })).toMatchObject({ seq: m.seq + 2 });
      expect(await ok(a, 'react', { room, cid: 'r2', target: m.seq, reaction: '👍' })).toMatchObject({ seq: m.seq + 3 });
      expect(await ok(b, 'unreact', { room, cid: 'u1', target: m.seq, reaction: '👍' })).toMatchObject({ seq: m.seq + 4 });
      const edit = await b.waitFor('change', (f) => f['op'] === 'edit');
      expect(edit).toEqual({ t: 'change', room, seq: m.seq + 1, cid: 'e1', from: 'ann', ts: edit['ts'], op: 'edit', target: m.seq, body: 'hello, bob', meta: { k: 1 }, version: 2 });
      const reacts = [await a.waitFor('change', (f) => f['seq'] === m.seq + 2), await a.waitFor('change', (f) => f['seq'] === m.seq + 3), await a.waitFor('change', (f) => f['seq'] === m.seq + 4)];
      expect(reacts.map((r) => [r['op'], r['from'], r['count'], r['users']])).toEqual([
        ['react', 'bob', 1, ['bob']],
        ['react', 'ann', 2, ['bob', 'ann']],
        ['unreact', 'bob', 1, ['ann']],
      ]);
      expect('body' in reacts[0]!).toBe(false);
      const del = await ok(a, 'delete', { room, cid: 'd1', target: m.seq });
      expect(await b.waitFor('change', (f) => f['op'] === 'delete')).toMatchObject({ seq: del.seq, target: m.seq, version: 3, from: 'ann' });
      const page = await ok(b, 'history', { room });
      expect(page.changes).toEqual([]);
      expect(page.messages).toEqual([{ room, seq: m.seq, cid: 'm1', from: 'ann', body: '', ts: m.ts, version: 3, deleted: true, reactions: { '👍': { count: 1, users: ['ann'] } }, changed: del.seq }]);
    });

    it('refuses what the rules forbid, and answers repeats without a new event', async () => {
      const a = await client('ann');
      const b = await client('bob');
      await a.join(`${room}-r`);
      await b.join(`${room}-r`);
      const r = `${room}-r`;
      const m = await a.send(r, 'm1', 'mine');
      expect(await refused(b, 'edit', { room: r, cid: 'x1', target: m.seq, body: 'not yours' })).toBe('forbidden');
      expect(await refused(b, 'delete', { room: r, cid: 'x2', target: m.seq })).toBe('forbidden');
      expect(await refused(a, 'edit', { room: r, cid: 'x3', target: 99, body: 'nothing there' })).toBe('not_found');
      expect(await refused(a, 'unreact', { room: r, cid: 'x4', target: m.seq, reaction: 'ok' })).toBe('not_found');
      expect(await refused(a, 'react', { room: r, cid: 'x5', target: m.seq, reaction: 'a\nb' })).toBe('bad_request');
      expect(await refused(a, 'react', { room: r, cid: 'x6', target: m.seq, reaction: 'x'.repeat(33) })).toBe('bad_request');
      const first = await ok(b, 'react', { room: r, cid: 'k1', target: m.seq, reaction: 'ok' });
      // Again by cid, and again by state: the same event, nothing new.
      expect(await ok(b, 'react', { room: r, cid: 'k1', target: m.seq, reaction: 'ok' })).toEqual({ ...first, dup: true });
      expect(await ok(b, 'react', { room: r, cid: 'k2', target: m.seq, reaction: 'ok' })).toEqual({ ...first, cid: 'k2', dup: true });
      await ok(b, 'react', { room: r, cid: 'k3', target: m.seq, reaction: 'two' });
      expect(await refused(b, 'react', { room: r, cid: 'k4', target: m.seq, reaction: 'three' })).toBe('forbidden');
      // A change is not a message.
      expect(await refused(a, 'react', { room: r, cid: 'k5', target: first.seq, reaction: 'ok' })).toBe('not_found');
      const del = await ok(a, 'delete', { room: r, cid: 'd1', target: m.seq });
      expect(await ok(a, 'delete', { room: r, cid: 'd2', target: m.seq })).toEqual({ ...del, cid: 'd2', dup: true });
      expect(await refused(a, 'edit', { room: r, cid: 'x7', target: m.seq, body: 'too late' })).toBe('not_found');
      expect(await refused(b, 'react', { room: r, cid: 'x8', target: m.seq, reaction: 'ok' })).toBe('not_found');
      expect(await refused(b, 'send', { room: r, cid: 'x9', body: 'reply', parent: m.seq })).toBe('not_found');
      const { head } = await a.join(r);
      expect(head).toBe(del.seq);
    });

    it('threads: replies carry parent, the parent summary counts them, history lists the thread', async () => {
      const a = await client('ann');
      const b = await client('bob');
      const r = `${room}-t`;
      await a.join(r);
      await b.join(r);
      const root = await a.send(r, 'root', 'a question');
      await a.send(r, 'other', 'unrelated');
      const r1 = await ok(b, 'send', { room: r, cid: 'r1', body: 'answer 1', parent: root.seq });
      const r2 = await ok(a, 'send', { room: r, cid: 'r2', body: 'answer 2', parent: root.seq });
      expect(await a.waitFor('msg', (f) => f['cid'] === 'r1')).toMatchObject({ parent: root.seq, body: 'answer 1' });
      const thread = await ok(b, 'history', { room: r, parent: root.seq });
      expect(thread.messages.map((m: { seq: number }) => m.seq)).toEqual([r1.seq, r2.seq]);
      expect(thread.more).toBe(false);
      expect((await ok(b, 'history', { room: r, parent: root.seq, limit: 1 })).messages.map((m: { seq: number }) => m.seq)).toEqual([r2.seq]);
      expect((await ok(b, 'history', { room: r, parent: root.seq, after: r1.seq })).messages.map((m: { seq: number }) => m.seq)).toEqual([r2.seq]);
      const page = await ok(b, 'history', { room: r });
      expect(page.messages[0]).toMatchObject({ seq: root.seq, replies: { count: 2, last: { seq: r2.seq, from: 'ann', ts: r2.ts } }, changed: r2.seq });
    });

    it('a member back with since gets the messages in their latest version and every change it missed, in order', async () => {
      const a = await client('ann');
      const r = `${room}-s`;
      const joined = await a.join(r);
      const m1 = await a.send(r, 'm1', 'one');
      const away = await client('bob');
      await away.join(r);
      const since = m1.seq;
      await ok(a, 'edit', { room: r, cid: 'e1', target: m1.seq, body: 'one, edited' });
      const m2 = await a.send(r, 'm2', 'two');
      await ok(a, 'react', { room: r, cid: 'k1', target: m2.seq, reaction: 'ok' });
      await ok(a, 'react', { room: r, cid: 'k2', target: m1.seq, reaction: 'ok' });
      const back = await client('bob');
      const resumed = await back.join(r, { since, epoch: joined.epoch });
      expect(resumed.recovered).toBe(true);
      expect(resumed.messages).toEqual([{ room: r, seq: m2.seq, cid: 'm2', from: 'ann', body: 'two', ts: m2.ts, reactions: { ok: { count: 1, users: ['ann'] } }, changed: m2.seq + 1 }]);
      expect(resumed.changes.map((c: { seq: number; op: string; target: number }) => [c.seq, c.op, c.target])).toEqual([
        [since + 1, 'edit', m1.seq],
        [m2.seq + 1, 'react', m2.seq],
        [m2.seq + 2, 'react', m1.seq],
      ]);
      // history after: the same events, for a catch-up in pages.
      const after = await ok(back, 'history', { room: r, after: since, limit: 2 });
      expect([...after.messages, ...after.changes].map((e: { seq: number }) => e.seq).sort((x: number, y: number) => x - y)).toEqual([since + 1, since + 2]);
      expect(after.more).toBe(true);
    });
  });

  it('the admin API deletes any message; a repeat answers the same delete', async () => {
    const c = await connect(node(), 'ws', 'cara');
    const r = `chg-admin-${Date.now()}`;
    await c.join(r);
    const m = await c.send(r, 'm1', 'spam');
    const res = await node().admin('DELETE', `/admin/rooms/${r}/messages/${m.seq}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ room: r, cid: `delete-${m.seq}`, seq: m.seq + 1, dup: false });
    expect(await c.waitFor('change', (f) => f['op'] === 'delete')).toMatchObject({ from: 'system', target: m.seq });
    const again = await node().admin('DELETE', `/admin/rooms/${r}/messages/${m.seq}?from=mod`);
    expect(again.body).toMatchObject({ seq: m.seq + 1, dup: true });
    expect((await node().admin('DELETE', `/admin/rooms/${r}/messages/99`)).status).toBe(404);
    expect((await node().admin('DELETE', `/admin/rooms/${r}/messages/0`)).status).toBe(400);
    const page = await node().admin('GET', `/admin/rooms/${r}/messages`);
    expect(page.body).toEqual({ room: r, messages: [expect.objectContaining({ seq: m.seq, body: '', deleted: true, version: 2 })], more: false });
  });
});
