import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Frame, type Kind } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, `join`: the reply, recovery with `since`/`epoch`, re-joins and `presence` online pushes. */

const RECOVERY_MAX = 3;

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ RECOVERY_MAX: String(RECOVERY_MAX) });
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

/** Sends `n` messages from `c` and returns their `msg` pushes as the sender saw them, without `t`. */
async function fill(c: TestClient, room: string, n: number): Promise<Record<string, unknown>[]> {
  const pushes: Record<string, unknown>[] = [];
  for (let i = 1; i <= n; i++) {
    const sent = await c.send(room, `fill-${i}`, `body ${i}`);
    const { t: _t, ...msg } = await c.waitFor('msg', (f) => f['seq'] === sent.seq);
    pushes.push(msg);
  }
  return pushes;
}

describe.each(KINDS)('%s: join reply', (kind) => {
  it('answers a first join of an empty room with every field', async () => {
    const room = `join-empty-${kind}`;
    const a = await connect(kind, `je-a-${kind}`);
    const data = await a.join(room);
    expect(Object.keys(data).sort()).toEqual(['changes', 'epoch', 'head', 'lastRead', 'messages', 'more', 'occupancy', 'recovered', 'room', 'unread']);
    expect(typeof data.epoch).toBe('string');
    expect(data.epoch.length).toBeGreaterThan(0);
    // occupancy counts the requester.
    expect(data).toMatchObject({ room, head: 0, lastRead: 0, unread: 0, occupancy: 1, messages: [], recovered: false, more: false });
  });

  it('reports head, lastRead, unread and occupancy of a room with history, and no messages without since', async () => {
    const room = `join-fields-${kind}`;
    const a = await connect(kind, `jf-a-${kind}`);
    const first = await a.join(room);
    await fill(a, room, 3);
    expect(await a.request('read', { room, seq: 1 })).toMatchObject({ ok: true, data: { room, seq: 1 } });

    const b = await connect(kind, `jf-b-${kind}`);
    const jb = await b.join(room);
    expect(jb).toEqual({ room, epoch: first.epoch, head: 3, lastRead: 0, unread: 3, occupancy: 2, messages: [], changes: [], recovered: false, more: false });

    // Another connection of the same user: its read pointer, and still two distinct users.
    const a2 = await connect(kind, `jf-a-${kind}`);
    const ja2 = await a2.join(room);
    expect(ja2).toEqual({ room, epoch: first.epoch, head: 3, lastRead: 1, unread: 2, occupancy: 2, messages: [], changes: [], recovered: false, more: false });
  });
});

describe.each(KINDS)('%s: join with since', (kind) => {
  it('returns the messages above since, oldest first, with recovered true', async () => {
    const room = `since-gap-${kind}`;
    const a = await connect(kind, `sg-a-${kind}`);
    const { epoch } = await a.join(room);
    const pushes = await fill(a, room, 5);

    const b = await connect(kind, `sg-b-${kind}`);
    const jb = await b.join(room, { since: 3 });
    expect(jb).toMatchObject({ head: 5, epoch, recovered: true, more: false });
    expect(jb.messages).toEqual(pushes.slice(3));

    // The same with the room's epoch given.
    const c = await connect(kind, `sg-c-${kind}`);
    const jc = await c.join(room, { since: 2, epoch });
    expect(jc).toMatchObject({ recovered: true });
    expect(jc.messages).toEqual(pushes.slice(2));
  });

  it('gives an empty list and recovered true when since is the head', async () => {
    const room = `since-head-${kind}`;
    const a = await connect(kind, `sh-a-${kind}`);
    await a.join(room);
    await fill(a, room, 2);
    const b = await connect(kind, `sh-b-${kind}`);
    expect(await b.join(room, { since: 2 })).toMatchObject({ head: 2, messages: [], recovered: true });
    // An empty room, since 0: nothing is missing either.
    const c = await connect(kind, `sh-c-${kind}`);
    expect(await c.join(`since-head-empty-${kind}`, { since: 0 })).toMatchObject({ head: 0, messages: [], recovered: true });
  });

  it('gives an empty list and recovered false when since is above the head', async () => {
    const room = `since-above-${kind}`;
    const a = await connect(kind, `sa-a-${kind}`);
    await a.join(room);
    await fill(a, room, 2);
    const b = await connect(kind, `sa-b-${kind}`);
    expect(await b.join(room, { since: 3 })).toMatchObject({ head: 2, messages: [], recovered: false, more: false });
  });

  it('gives an empty list and recovered false for another epoch', async () => {
    const room = `since-epoch-${kind}`;
    const a = await connect(kind, `se-a-${kind}`);
    const { epoch } = await a.join(room);
    await fill(a, room, 2);
    const b = await connect(kind, `se-b-${kind}`);
    const jb = await b.join(room, { since: 0, epoch: `not-${epoch}` });
    expect(jb).toMatchObject({ epoch, head: 2, messages: [], recovered: false, more: false });
  });

  it('returns the oldest RECOVERY_MAX messages, more and recovered false for a larger gap', async () => {
    const room = `since-max-${kind}`;
    const a = await connect(kind, `sm-a-${kind}`);
    await a.join(room);
    const pushes = await fill(a, room, RECOVERY_MAX + 2);

    const b = await connect(kind, `sm-b-${kind}`);
    const jb = await b.join(room, { since: 0 });
    expect(jb).toMatchObject({ head: RECOVERY_MAX + 2, recovered: false, more: true });
    expect(jb.messages).toEqual(pushes.slice(0, RECOVERY_MAX));
    // The rest comes with history after the last one held.
    const rest = await b.request('history', { room, after: RECOVERY_MAX });
    expect(rest.data).toEqual({ room, messages: pushes.slice(RECOVERY_MAX), changes: [], more: false });

    // A gap of exactly RECOVERY_MAX is recovered whole.
    const c = await connect(kind, `sm-c-${kind}`);
    const jc = await c.join(room, { since: 2 });
    expect(jc).toMatchObject({ recovered: true, more: false });
    expect(jc.messages.map((m: Frame) => m['seq'])).toEqual([3, 4, 5]);
  });
});

describe.each(KINDS)('%s: re-join and presence', (kind) => {
  it('pushes presence online to the other members, not to the joiner', async () => {
    const room = `online-${kind}`;
    const b = await connect(kind, `on-b-${kind}`);
    await b.join(room);
    const a = await connect(kind, `on-a-${kind}`);
    await a.join(room);
    expect(await b.waitFor('presence', (f) => f['user'] === `on-a-${kind}`)).toEqual({
      t: 'presence',
      room,
      user: `on-a-${kind}`,
      status: 'online',
    });
    await a.barrier();
    expect(a.received('presence')).toEqual([]);
  });

  it('answers a re-join with a fresh reply and no second presence push', async () => {
    const room = `rejoin-${kind}`;
    const user = `rj-a-${kind}`;
    const b = await connect(kind, `rj-b-${kind}`);
    await b.join(room);
    const a = await connect(kind, user);
    const first = await a.join(room);
    await b.waitFor('presence', (f) => f['user'] === user && f['status'] === 'online');
    await b.send(room, 'between', 'sent between the joins');

    const again = await a.join(room, { since: 0 });
    expect(again).toMatchObject({ room, epoch: first.epoch, head: 1, occupancy: 2, recovered: true, more: false });
    expect(again.messages.map((m: Frame) => m['cid'])).toEqual(['between']);
    await b.barrier();
    expect(b.received('presence', (f) => f['user'] === user)).toHaveLength(1);

    // The re-join did not add a device, and the connection still gets each message once.
    const page = await b.request('presence', { room });
    expect(page.data.members.find((m: Frame) => m['user'] === user)).toMatchObject({ devices: 1 });
    const sent = await b.send(room, 'after', 'sent after the re-join');
    await a.waitFor('msg', (f) => f['seq'] === sent.seq);
    await a.barrier();
    expect(a.received('msg', (f) => f['seq'] === sent.seq)).toHaveLength(1);
  });

  it('pushes no presence when a second connection of an online user joins', async () => {
    const room = `second-device-${kind}`;
    const user = `sd-a-${kind}`;
    const b = await connect(kind, `sd-b-${kind}`);
    await b.join(room);
    const a1 = await connect(kind, user);
    await a1.join(room);
    await b.waitFor('presence', (f) => f['user'] === user);
    const a2 = await connect(kind, user);
    expect(await a2.join(room)).toMatchObject({ occupancy: 2 });
    await b.barrier();
    expect(b.received('presence', (f) => f['user'] === user)).toHaveLength(1);
  });
});
