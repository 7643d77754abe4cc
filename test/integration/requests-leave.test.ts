import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Frame, type Kind } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, `leave` and `presence` pushes: the reply, `not_joined` after it, and the grace period. */

const GRACE_MS = 1000;

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ PRESENCE_GRACE_S: String(GRACE_MS / 1000) });
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

/** Waits until the server has let go of every connection of `user` (its disconnect was processed). */
async function untilOffline(user: string, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const { body } = await node.admin('GET', `/admin/users/${user}/presence`);
    if ((body as { devices: number }).devices === 0) return;
    if (Date.now() > deadline) throw new Error(`${user} still has connections after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function memberOf(page: { members: Frame[] }, user: string): Frame | undefined {
  return page.members.find((m) => m['user'] === user);
}

describe.each(KINDS)('%s: leave', (kind) => {
  it('replies {room}, then refuses every request that needs the room with not_joined', async () => {
    const room = `leave-reply-${kind}`;
    const a = await connect(kind, `lr-a-${kind}`);
    await a.join(room);
    expect(await a.request('leave', { room })).toMatchObject({ ok: true, data: { room } });
    const requests: [string, Record<string, unknown>][] = [
      ['send', { room, cid: 'c1', body: 'after leave' }],
      ['typing', { room, on: true }],
      ['read', { room, seq: 0 }],
      ['history', { room }],
      ['presence', { room }],
    ];
    for (const [t, payload] of requests) {
      expect(await a.request(t, payload), t).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    }
    // Joining again works, and the room's messages flow again.
    await a.join(room);
    expect(await a.send(room, 'c2', 'back')).toMatchObject({ seq: 1 });
  });

  it('replies {room} to a leave of a room that is not joined (leave does not need a joined room)', async () => {
    const room = `leave-unjoined-${kind}`;
    const a = await connect(kind, `lu-a-${kind}`);
    expect(await a.request('leave', { room })).toMatchObject({ ok: true, data: { room } });
    await a.join(room);
    await a.request('leave', { room });
    expect(await a.request('leave', { room })).toMatchObject({ ok: true, data: { room } });
  });

  it('stops msg pushes to the connection that left', async () => {
    const room = `leave-quiet-${kind}`;
    const a = await connect(kind, `lq-a-${kind}`);
    const b = await connect(kind, `lq-b-${kind}`);
    await a.join(room);
    await b.join(room);
    await a.request('leave', { room });
    const sent = await b.send(room, 'c1', 'nobody but b');
    await b.waitFor('msg', (f) => f['seq'] === sent.seq);
    await a.barrier();
    expect(a.received('msg')).toEqual([]);
  });
});

describe.each(KINDS)('%s: presence offline and the grace period', (kind) => {
  it('pushes offline to the other members only after PRESENCE_GRACE_S when the last connection leaves', async () => {
    const room = `offline-leave-${kind}`;
    const user = `ol-a-${kind}`;
    const b = await connect(kind, `ol-b-${kind}`);
    await b.join(room);
    const a = await connect(kind, user);
    await a.join(room);
    await b.waitFor('presence', (f) => f['user'] === user && f['status'] === 'online');
    const leftAt = Date.now();
    await a.request('leave', { room });
    const offline = await b.waitFor('presence', (f) => f['user'] === user, GRACE_MS + 4000);
    expect(offline).toEqual({ t: 'presence', room, user, status: 'offline' });
    // The grace timer starts after leftAt, so the push cannot come before it ends.
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(GRACE_MS - 20);
  });

  it('pushes offline after the grace period when the last connection disconnects', async () => {
    const room = `offline-close-${kind}`;
    const user = `oc-a-${kind}`;
    const b = await connect(kind, `oc-b-${kind}`);
    await b.join(room);
    const a = await connect(kind, user);
    await a.join(room);
    await b.waitFor('presence', (f) => f['user'] === user && f['status'] === 'online');
    a.close();
    expect(await b.waitFor('presence', (f) => f['user'] === user, GRACE_MS + 4000)).toMatchObject({ status: 'offline' });
  });

  it('pushes nothing while another connection of the user stays in the room', async () => {
    const room = `offline-other-device-${kind}`;
    const user = `od-a-${kind}`;
    const b = await connect(kind, `od-b-${kind}`);
    await b.join(room);
    const a1 = await connect(kind, user);
    const a2 = await connect(kind, user);
    await a1.join(room);
    await a2.join(room);
    await a1.request('leave', { room });
    // A sentinel user leaving after a1 goes offline after a1's grace period would have ended.
    const s = await connect(kind, `od-s-${kind}`);
    await s.join(room);
    await s.request('leave', { room });
    await b.waitFor('presence', (f) => f['user'] === `od-s-${kind}` && f['status'] === 'offline', GRACE_MS + 4000);
    expect(b.received('presence', (f) => f['user'] === user)).toEqual([{ t: 'presence', room, user, status: 'online' }]);
  });

  it('shows no offline/online flap for a reconnect within the grace period, and keeps since', async () => {
    const room = `flap-${kind}`;
    const user = `fl-a-${kind}`;
    const sentinel = `fl-s-${kind}`;
    const b = await connect(kind, `fl-b-${kind}`);
    await b.join(room);
    const a1 = await connect(kind, user);
    await a1.join(room);
    await b.waitFor('presence', (f) => f['user'] === user && f['status'] === 'online');
    const before = memberOf((await b.request('presence', { room })).data, user);
    expect(before).toBeDefined();

    a1.close();
    await untilOffline(user);
    const a2 = await connect(kind, user);
    expect(await a2.join(room)).toMatchObject({ occupancy: 2 });

    // The sentinel's offline push is due after a1's grace period would have ended.
    const s = await connect(kind, sentinel);
    await s.join(room);
    s.close();
    await b.waitFor('presence', (f) => f['user'] === sentinel && f['status'] === 'offline', GRACE_MS + 4000);
    expect(b.received('presence', (f) => f['user'] === user)).toEqual([{ t: 'presence', room, user, status: 'online' }]);
    const after = memberOf((await b.request('presence', { room })).data, user);
    expect(after).toEqual({ user, devices: 1, since: before?.['since'] });
  });

  it('counts a user inside the grace period in occupancy, with their since, until the offline push', async () => {
    const room = `grace-occupancy-${kind}`;
    const user = `go-a-${kind}`;
    const b = await connect(kind, `go-b-${kind}`);
    await b.join(room);
    const a = await connect(kind, user);
    await a.join(room);
    await b.waitFor('presence', (f) => f['user'] === user && f['status'] === 'online');
    const since = memberOf((await b.request('presence', { room })).data, user)?.['since'];

    await a.request('leave', { room });
    const inGrace = (await b.request('presence', { room })).data;
    expect(inGrace.occupancy).toBe(2);
    expect(memberOf(inGrace, user)).toMatchObject({ user, since });
    const c = await connect(kind, `go-c-${kind}`);
    expect(await c.join(room)).toMatchObject({ occupancy: 3 });

    await b.waitFor('presence', (f) => f['user'] === user && f['status'] === 'offline', GRACE_MS + 4000);
    const after = (await b.request('presence', { room })).data;
    expect(after.occupancy).toBe(2);
    expect(memberOf(after, user)).toBeUndefined();
  });
});
