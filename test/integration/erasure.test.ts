import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChange, type ChatMessage as SdkMessage } from '../../packages/client/src/index.js';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import type { ErasureReport } from '../../src/rooms/erasure.js';
import { TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { consumerDrained, eventually, natsConnection, persistedGateway } from './persist-support.js';
import { closeAll, next, sdk, within } from './sdk-support.js';

/**
 * `DELETE /admin/users/:user/messages` with the whole durable path (private Redis, JetStream,
 * MongoDB through a worker): the user's messages become tombstones in MongoDB, the recent buffers
 * and the queue stream, no read path (join with `since`, `history`, the admin history, the SDK)
 * returns an erased body again, the room's sequence stays whole, and a second call erases nothing.
 */
const SECRET = 'SECRET';

describe('erasing a user\'s messages', () => {
  // A small recent buffer: some of the user's messages are in MongoDB only.
  const gateway = persistedGateway('erase', { RECENT_MAX: '4' });
  afterAll(closeAll);

  /** The reply of a request that must succeed. */
  const ok = async (c: TestClient, t: string, payload: Record<string, unknown>): Promise<{ seq: number; dup: boolean }> => {
    const { ok: accepted, data, error } = await c.request(t, payload);
    expect(error, t).toBeUndefined();
    expect(accepted).toBe(true);
    return data as { seq: number; dup: boolean };
  };
  const erase = async (path: string): Promise<ErasureReport> => {
    const r = await gateway().node.admin('DELETE', path);
    if (r.status !== 200) throw new Error(`erase answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body as ErasureReport;
  };
  /** Every queued event of `room` still in the stream, as text. */
  const queued = async (room: string): Promise<string[]> => {
    const nc = await natsConnection();
    try {
      const jsm = await nc.jetstreamManager();
      const stream = queueNames(gateway().prefix).stream;
      const { state } = await jsm.streams.info(stream);
      const out: string[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
        if (m && m.subject.endsWith(`.${room}`)) out.push(new TextDecoder().decode(m.data));
      }
      return out;
    } finally {
      await nc.close();
    }
  };

  it('tombstones every message of the user everywhere, keeps the sequence whole, pushes the deletes, and erases nothing more a second time', async () => {
    const { node, redis, database, prefix } = gateway();
    const [r1, r2] = ['er1', 'er2'];
    const eve = await TestClient.connect('ws', node, await node.token('eve'));
    const bob = await TestClient.connect('sio', node, await node.token('bob'));
    await eve.join(r1);
    await eve.join(r2);
    const bobJoin = await bob.join(r1);
    const eves: number[] = [];
    const nc = await natsConnection();
    for (let i = 1; i <= 5; i++) {
      eves.push((await ok(eve, 'send', { room: r1, cid: `e${i}`, body: `${SECRET} ${i}`, meta: { note: `${SECRET} meta ${i}` } })).seq);
      await ok(bob, 'send', { room: r1, cid: `b${i}`, body: `bob visible ${i}` });
    }
    await ok(eve, 'edit', { room: r1, cid: 'edit1', target: eves[4] ?? 0, body: `${SECRET} edited` });
    // The thread's first message is older than the recent buffer: a reply needs it stored.
    await consumerDrained(nc, prefix, 30_000);
    const reply = await ok(eve, 'send', { room: r1, cid: 'reply1', body: `${SECRET} reply`, parent: eves[0] });
    eves.push(reply.seq);
    for (let i = 1; i <= 2; i++) await ok(eve, 'send', { room: r2, cid: `x${i}`, body: `${SECRET} elsewhere ${i}` });
    await consumerDrained(nc, prefix, 30_000).finally(() => nc.close());

    const report = await erase('/admin/users/eve/messages');
    // 8 messages and an edit held for resends (DEDUPE_TTL_S), stored and queued.
    expect(report).toMatchObject({ user: 'eve', found: 8, erased: 8, already: 0, dedupe: { blanked: 9 }, rooms: { [r1]: 6, [r2]: 2 }, queue: { removed: 9, kept: 0 }, more: false });
    // `store.blanked` depends on how many tombstones the worker folded first: MongoDB is checked below.
    // Live members get the delete of each (the same push as any delete).
    await eventually('bob got every delete', () => {
      const deletes = bob.received('change', (f) => f['room'] === r1 && f['op'] === 'delete').map((f) => f['target']);
      return Promise.resolve({ ok: eves.every((s) => deletes.includes(s)), seen: deletes });
    });

    // MongoDB: no body or meta of eve's left, and each of her messages is marked deleted once its tombstone is stored.
    const docs = database.collection('messages');
    await eventually('every tombstone folded', async () => {
      const marked = await docs.countDocuments({ from: 'eve', op: { $exists: false }, del: { $exists: true } });
      return { ok: marked === 8, seen: marked };
    });
    const all = await docs.find({}, { projection: { _id: 0 } }).toArray();
    expect(JSON.stringify(all)).not.toContain(SECRET);
    expect(all.filter((d) => d['from'] === 'bob' && d['op'] === undefined).map((d) => d['body'])).toEqual([1, 2, 3, 4, 5].map((i) => `bob visible ${i}`));
    // Redis: nothing of it in any of the room's keys.
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const keys = await raw.keys(`{${prefix}:${r1}}*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        const type = await raw.type(key);
        const content = type === 'zset' ? await raw.zrange(key, 0, -1) : type === 'hash' ? Object.values(await raw.hgetall(key)) : type === 'string' ? [await raw.get(key)] : [];
        expect(JSON.stringify(content), key).not.toContain(SECRET);
      }
    } finally {
      raw.disconnect();
    }
    // The queue stream: eve's stored messages and edit are gone from it; the tombstones are there.
    for (const room of [r1, r2]) expect((await queued(room)).join('\n')).not.toContain(SECRET);

    // Every read path: join with since, history both ways, the admin history, the SDK.
    const carol = await TestClient.connect('ws', node, await node.token('carol'));
    const back = await carol.join(r1, { since: 0, epoch: bobJoin.epoch });
    expect(back.recovered).toBe(true);
    expect(JSON.stringify(back)).not.toContain(SECRET);
    const tomb = (back.messages as { seq: number; body: string; deleted?: boolean; meta?: unknown }[]).find((m) => m.seq === eves[0]);
    expect(tomb).toMatchObject({ seq: eves[0], body: '', deleted: true });
    expect(tomb?.meta).toBeUndefined();
    for (const payload of [{ room: r1 }, { room: r1, after: 0 }, { room: r1, before: 6, limit: 100 }, { room: r1, parent: eves[0] }]) {
      const page = await carol.request('history', payload);
      expect(page.ok).toBe(true);
      expect(JSON.stringify(page.data), JSON.stringify(payload)).not.toContain(SECRET);
    }
    const adminHistory = await node.admin('GET', `/admin/rooms/${r1}/messages?limit=100`);
    expect(adminHistory.status).toBe(200);
    expect(JSON.stringify(adminHistory.body)).not.toContain(SECRET);
    expect((adminHistory.body as { messages: { from: string; body: string }[] }).messages.filter((m) => m.from === 'bob')).toHaveLength(5);
    const reader = sdk(node.wsUrl, { getToken: () => node.token('dave') });
    const joined = await reader.join(r1, { since: 0 });
    expect(JSON.stringify(joined)).not.toContain(SECRET);
    expect(JSON.stringify(await reader.history(r1, { limit: 100 }))).not.toContain(SECRET);

    // Twice: nothing more to erase.
    const again = await erase('/admin/users/eve/messages');
    expect(again).toMatchObject({ found: 0, erased: 0, already: 0, store: { blanked: 0 }, dedupe: { blanked: 0 }, queue: { removed: 0, kept: 0 }, rooms: {}, more: false });
    // A resend of an erased message is still the duplicate it was: it does not come back.
    expect(await ok(eve, 'send', { room: r1, cid: 'e1', body: `${SECRET} again` })).toMatchObject({ seq: eves[0], dup: true });
    expect(JSON.stringify((await carol.request('history', { room: r1, limit: 100 })).data)).not.toContain(SECRET);
    eve.close();
    bob.close();
    carol.close();
  }, 90_000);

  it('an SDK client online during the erasure drops the body it held; `room` limits the erasure to one room', async () => {
    const { node } = gateway();
    const [r1, r2] = ['sr1', 'sr2'];
    const writer = sdk(node.wsUrl, { getToken: () => node.token('mallory') });
    const watcher = sdk(node.wsUrl, { getToken: () => node.token('walt') });
    await writer.join(r1);
    await writer.join(r2);
    await watcher.join(r1);
    const held = next(watcher, 'msg', (m) => m.room === r1);
    await within(writer.send(r1, `${SECRET} to walt`), 'send');
    let copy: SdkMessage = await held;
    await within(writer.send(r2, `${SECRET} kept`), 'send 2');
    const change = next(watcher, 'change', (c) => c.room === r1 && c.op === 'delete');
    const report = await within(erase(`/admin/users/mallory/messages?room=${r1}`), 'erase');
    expect(report).toMatchObject({ found: 1, erased: 1, rooms: { [r1]: 1 } });
    copy = applyChange(copy, await change);
    expect(copy).toMatchObject({ body: '', deleted: true });
    expect(JSON.stringify(copy)).not.toContain(SECRET);
    const other = await watcher.join(r2, { since: 0 });
    expect(other.messages.map((m) => m.body)).toEqual([`${SECRET} kept`]);
    expect((await node.admin('DELETE', '/admin/users/mallory/messages?room=bad room')).status).toBe(400);
  });
});

describe('erasing a user\'s messages in embedded mode', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  it('the memory store, recent buffer and dedupe entries lose the bodies; a second call finds nothing', async () => {
    const room = 'mem-erase';
    const eve = await TestClient.connect('sio', node, await node.token('eve'));
    const joined = await eve.join(room);
    for (let i = 1; i <= 3; i++) await eve.send(room, `m${i}`, `${SECRET} ${i}`);
    const first = (await node.admin('DELETE', '/admin/users/eve/messages')).body as ErasureReport;
    expect(first).toMatchObject({ found: 3, erased: 3, dedupe: { blanked: 3 }, queue: { removed: 0, kept: 0 }, rooms: { [room]: 3 } });
    const back = await eve.join(room, { since: 0, epoch: joined.epoch });
    expect(back.recovered).toBe(true);
    expect(JSON.stringify(back)).not.toContain(SECRET);
    expect(JSON.stringify((await node.admin('GET', `/admin/rooms/${room}/messages`)).body)).not.toContain(SECRET);
    expect((await node.admin('DELETE', '/admin/users/eve/messages')).body).toMatchObject({ found: 0, erased: 0, dedupe: { blanked: 0 } });
    eve.close();
  });
});
