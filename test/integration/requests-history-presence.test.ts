import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Frame, type Kind } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, `history` and `presence` requests: paging, defaults and bounds. */

let node: TestNode;
beforeAll(async () => {
  // Rooms are filled with dozens of sends: the rate limit is not under test here.
  node = await startNode({ RATE_PER_S: '1000', RATE_BURST: '1000' });
});
afterAll(async () => {
  await node.close();
});

const open: TestClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function connect(kind: Kind, user: string): Promise<TestClient> {
  const c = await TestClient.connect(kind, node, await node.token(user));
  open.push(c);
  return c;
}

/** Joins `room` and sends `n` messages; returns the client and the `msg` pushes it got, without `t`, by seq. */
async function filled(kind: Kind, room: string, user: string, n: number): Promise<[TestClient, Record<string, unknown>[]]> {
  const c = await connect(kind, user);
  await c.join(room);
  await Promise.all(Array.from({ length: n }, (_, i) => c.send(room, `c${i + 1}`, `body ${i + 1}`)));
  const pushes: Record<string, unknown>[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const { t: _t, ...msg } = await c.waitFor('msg', (f) => f['seq'] === seq);
    pushes.push(msg);
  }
  return [c, pushes];
}

const seqs = (messages: Frame[]): unknown[] => messages.map((m) => m['seq']);

describe.each(KINDS)('%s: history', (kind) => {
  it('returns the newest without before, oldest first, and pages back with before', async () => {
    const room = `history-pages-${kind}`;
    const [a, pushes] = await filled(kind, room, `hp-a-${kind}`, 7);
    const newest = await a.request('history', { room, limit: 3 });
    expect(newest).toMatchObject({ ok: true, data: { room, more: true } });
    expect(newest.data.messages).toEqual(pushes.slice(4, 7));
    const middle = await a.request('history', { room, before: 5, limit: 3 });
    expect(middle.data).toEqual({ room, messages: pushes.slice(1, 4), changes: [], more: true });
    const oldest = await a.request('history', { room, before: 2, limit: 3 });
    expect(oldest.data).toEqual({ room, messages: pushes.slice(0, 1), changes: [], more: false });
    // A page that ends exactly at seq 1 has nothing older.
    const exact = await a.request('history', { room, before: 4, limit: 3 });
    expect(exact.data).toEqual({ room, messages: pushes.slice(0, 3), changes: [], more: false });
    // A before above head is the same as none.
    expect((await a.request('history', { room, before: 1000, limit: 2 })).data).toEqual({ room, messages: pushes.slice(5), changes: [], more: true });
  });

  it('answers an empty room with no messages and more false', async () => {
    const room = `history-empty-${kind}`;
    const a = await connect(kind, `he-a-${kind}`);
    await a.join(room);
    expect((await a.request('history', { room })).data).toEqual({ room, messages: [], changes: [], more: false });
  });

  it('returns 50 messages by default and up to 100 with a limit', async () => {
    const room = `history-default-${kind}`;
    const [a] = await filled(kind, room, `hd-a-${kind}`, 55);
    const byDefault = await a.request('history', { room });
    expect(byDefault.data.more).toBe(true);
    expect(seqs(byDefault.data.messages)).toEqual(Array.from({ length: 50 }, (_, i) => i + 6));
    const all = await a.request('history', { room, limit: 100 });
    expect(all.data.more).toBe(false);
    expect(seqs(all.data.messages)).toEqual(Array.from({ length: 55 }, (_, i) => i + 1));
    const one = await a.request('history', { room, limit: 1 });
    expect(one.data).toMatchObject({ more: true });
    expect(seqs(one.data.messages)).toEqual([55]);
  });

  it('refuses a limit out of 1-100 with bad_request instead of clamping it', async () => {
    const room = `history-bounds-${kind}`;
    const [a] = await filled(kind, room, `hb-a-${kind}`, 2);
    for (const limit of [0, 101, -1, 2.5, '10']) {
      expect(await a.request('history', { room, limit }), `limit ${String(limit)}`).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    expect(await a.request('history', { room, before: 'x' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await a.request('history', { room, limit: 100 })).toMatchObject({ ok: true });
  });
});

describe.each(KINDS)('%s: presence request', (kind) => {
  it('lists members with their devices in the room and since, and the occupancy', async () => {
    const room = `presence-members-${kind}`;
    const userA = `pm-a-${kind}`;
    const userB = `pm-b-${kind}`;
    const a1 = await connect(kind, userA);
    await a1.join(room);
    const b = await connect(kind, userB);
    await b.join(room);
    const first = (await b.request('presence', { room })).data;
    const sinceA = first.members.find((m: Frame) => m['user'] === userA).since;
    expect(new Date(sinceA).toISOString()).toBe(sinceA);

    const a2 = await connect(kind, userA);
    await a2.join(room);
    // Connected but not in the room: not a device here.
    await connect(kind, userA);
    const page = await b.request('presence', { room });
    expect(page).toMatchObject({ ok: true, data: { room, occupancy: 2, next: null } });
    const byUser = [...page.data.members].sort((x: Frame, y: Frame) => String(x['user']).localeCompare(String(y['user'])));
    expect(byUser).toEqual([
      { user: userA, devices: 2, since: sinceA },
      { user: userB, devices: 1, since: expect.any(String) },
    ]);
    expect(Date.parse(byUser[1].since)).toBeGreaterThanOrEqual(Date.parse(sinceA));
  });

  it('pages with limit and next until next is null, each member once', async () => {
    const room = `presence-paging-${kind}`;
    const users = Array.from({ length: 5 }, (_, i) => `pp-${i}-${kind}`);
    const clients: TestClient[] = [];
    for (const u of users) {
      const c = await connect(kind, u);
      await c.join(room);
      clients.push(c);
    }
    const asker = clients[0]!;
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const r = await asker.request('presence', { room, limit: 2, ...(cursor !== undefined ? { cursor } : {}) });
      expect(r).toMatchObject({ ok: true, data: { room, occupancy: 5 } });
      expect(r.data.members.length).toBeLessThanOrEqual(2);
      seen.push(...r.data.members.map((m: Frame) => m['user'] as string));
      pages++;
      if (r.data.next === null) break;
      expect(typeof r.data.next).toBe('string');
      cursor = r.data.next;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect([...seen].sort()).toEqual([...users].sort());
  });

  it('refuses a limit out of 1-500 with bad_request', async () => {
    const room = `presence-bounds-${kind}`;
    const a = await connect(kind, `pb-a-${kind}`);
    const b = await connect(kind, `pb-b-${kind}`);
    await a.join(room);
    await b.join(room);
    for (const limit of [0, 501, 1.5, '5']) {
      expect(await a.request('presence', { room, limit }), `limit ${String(limit)}`).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    expect(await a.request('presence', { room, cursor: 5 })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    const one = await a.request('presence', { room, limit: 1 });
    expect(one.data.members).toHaveLength(1);
    expect(one.data.next).not.toBeNull();
    const max = await a.request('presence', { room, limit: 500 });
    expect(max.data).toMatchObject({ occupancy: 2, next: null });
    expect(max.data.members).toHaveLength(2);
  });
});
