import { describe, expect, it } from 'vitest';
import { KINDS, type TestClient, type Kind } from '../helpers/clients.js';
import { nodeFor, trackedClients } from '../helpers/fixtures.js';
import type { TestNode } from '../helpers/node.js';

/** docs/protocol.md, `typing` and `read`: requests, pushes to the other members, the typing TTL. */

const TYPING_TTL_MS = 1000;

const connect = trackedClients();

/** Two members of a fresh room. */
async function pair(node: TestNode, kind: Kind, room: string, prefix: string): Promise<[TestClient, TestClient]> {
  const a = await connect(node, kind, `${prefix}-a-${kind}`);
  const b = await connect(node, kind, `${prefix}-b-${kind}`);
  await a.join(room);
  await b.join(room);
  return [a, b];
}

describe.each(KINDS)('%s: typing with TYPING_TTL_S=1', (kind) => {
  const node = nodeFor({ TYPING_TTL_S: String(TYPING_TTL_MS / 1000) });

  it('pushes typing to the other members, not to the typing connection', async () => {
    const room = `typing-push-${kind}`;
    const [a, b] = await pair(node(), kind, room, 'tp');
    expect(await a.request('typing', { room, on: true })).toMatchObject({ ok: true, data: {} });
    expect(await b.waitFor('typing')).toEqual({ t: 'typing', room, user: `tp-a-${kind}`, on: true });
    await a.barrier();
    expect(a.received('typing')).toEqual([]);
  });

  it('sends on:false itself after TYPING_TTL_S without a refresh', async () => {
    const room = `typing-ttl-${kind}`;
    const [a, b] = await pair(node(), kind, room, 'tt');
    const startedAt = Date.now();
    await a.request('typing', { room, on: true });
    await b.waitFor('typing', (f) => f['on'] === true);
    const off = await b.waitFor('typing', (f) => f['on'] === false, TYPING_TTL_MS + 4000);
    expect(off).toEqual({ t: 'typing', room, user: `tt-a-${kind}`, on: false });
    // The TTL timer starts after startedAt, so its push cannot come earlier.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(TYPING_TTL_MS - 20);
    await a.barrier();
    expect(a.received('typing')).toEqual([]);
  });

  it('pushes an explicit on:false once, and the TTL sends no second one', async () => {
    const room = `typing-off-${kind}`;
    const [a, b] = await pair(node(), kind, room, 'to');
    const sentinel = await connect(node(), kind, `to-s-${kind}`);
    await sentinel.join(room);
    await a.request('typing', { room, on: true });
    await a.request('typing', { room, on: false });
    expect(await b.waitFor('typing', (f) => f['on'] === false)).toMatchObject({ user: `to-a-${kind}` });
    // The sentinel's automatic on:false comes after a's TTL would have ended.
    await sentinel.request('typing', { room, on: true });
    await b.waitFor('typing', (f) => f['user'] === `to-s-${kind}` && f['on'] === false, TYPING_TTL_MS + 4000);
    expect(b.received('typing', (f) => f['user'] === `to-a-${kind}`).map((f) => f['on'])).toEqual([true, false]);
  });
});

describe.each(KINDS)('%s: typing ends when the user leaves', (kind) => {
  // The default TYPING_TTL_S (6 s) is far longer than these waits: any on:false here is the leave's.
  const node = nodeFor();

  it('pushes on:false when the typing user leaves the room', async () => {
    const room = `typing-leave-${kind}`;
    const [a, b] = await pair(node(), kind, room, 'tl');
    await a.request('typing', { room, on: true });
    await b.waitFor('typing', (f) => f['on'] === true);
    await a.request('leave', { room });
    await b.barrier();
    expect(b.received('typing', (f) => f['on'] === false)).toEqual([{ t: 'typing', room, user: `tl-a-${kind}`, on: false }]);
  });

  it('pushes on:false when the typing user disconnects', async () => {
    const room = `typing-close-${kind}`;
    const [a, b] = await pair(node(), kind, room, 'tc');
    await a.request('typing', { room, on: true });
    await b.waitFor('typing', (f) => f['on'] === true);
    a.close();
    expect(await b.waitFor('typing', (f) => f['on'] === false, 3000)).toMatchObject({ user: `tc-a-${kind}` });
  });
});

describe.each(KINDS)('%s: read', (kind) => {
  const node = nodeFor();

  async function roomWith(room: string, prefix: string, n: number): Promise<[TestClient, TestClient]> {
    const [a, b] = await pair(node(), kind, room, prefix);
    for (let i = 1; i <= n; i++) await b.send(room, `m${i}`, `message ${i}`);
    return [a, b];
  }

  it('stores the pointer, never lowers it, and stores head for a read above head', async () => {
    const room = `read-store-${kind}`;
    const [a] = await roomWith(room, 'rs', 3);
    expect(await a.request('read', { room, seq: 2 })).toMatchObject({ ok: true, data: { room, seq: 2 } });
    expect(await a.request('read', { room, seq: 1 })).toMatchObject({ ok: true, data: { room, seq: 2 } });
    expect(await a.request('read', { room, seq: 0 })).toMatchObject({ ok: true, data: { room, seq: 2 } });
    expect(await a.request('read', { room, seq: 10 })).toMatchObject({ ok: true, data: { room, seq: 3 } });
  });

  it('pushes read to the other members when the pointer moves, and nothing when it does not', async () => {
    const room = `read-push-${kind}`;
    const [a, b] = await roomWith(room, 'rp', 3);
    const user = `rp-a-${kind}`;
    await a.request('read', { room, seq: 2 });
    expect(await b.waitFor('read')).toEqual({ t: 'read', room, user, seq: 2 });
    await a.request('read', { room, seq: 1 });
    await a.request('read', { room, seq: 2 });
    await b.barrier();
    expect(b.received('read')).toHaveLength(1);
    await a.request('read', { room, seq: 99 });
    expect(await b.waitFor('read')).toEqual({ t: 'read', room, user, seq: 3 });
    await a.request('read', { room, seq: 3 });
    await b.barrier();
    expect(b.received('read')).toHaveLength(2);
  });

  it('reports unread = head - lastRead in a later join', async () => {
    const room = `read-unread-${kind}`;
    const [a, b] = await roomWith(room, 'ru', 3);
    // Above head: the stored pointer is head (3), so later messages count as unread.
    await a.request('read', { room, seq: 10 });
    await b.send(room, 'm4', 'message 4');
    await b.send(room, 'm5', 'message 5');
    const a2 = await connect(node(), kind, `ru-a-${kind}`);
    expect(await a2.join(room)).toMatchObject({ head: 5, lastRead: 3, unread: 2 });
    await b.request('read', { room, seq: 4 });
    const b2 = await connect(node(), kind, `ru-b-${kind}`);
    expect(await b2.join(room)).toMatchObject({ head: 5, lastRead: 4, unread: 1 });
    // A user who never read anything.
    const c = await connect(node(), kind, `ru-c-${kind}`);
    expect(await c.join(room)).toMatchObject({ head: 5, lastRead: 0, unread: 5 });
  });
});
