/**
 * The SDK's request API end to end against a real node: every request type, its reply, the
 * pushes it causes on another client, and errors as `ParleyClientError` codes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ParleyClientError } from '../../packages/client/src/index.js';
import type { ParleyClient } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { Inbox, closeAll, next, range, sdk, within } from './sdk-support.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ TYPING_TTL_S: '1' });
});
afterEach(closeAll);
afterAll(async () => {
  await node.close();
});

const client = (user: string, rooms?: string[]): ParleyClient => sdk(node.wsUrl, { getToken: () => node.token(user, rooms ? { rooms } : {}) });

/** The error code a call rejected with. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    expect(err).toBeInstanceOf(ParleyClientError);
    return (err as ParleyClientError).code;
  }
  throw new Error('the call succeeded');
}

describe('SDK request API against a node', () => {
  it('connects: state open and the hello of the session', async () => {
    const c = client('sdk-hello');
    expect(c.state).toBe('connecting');
    const hello = await next(c, 'hello');
    expect(hello).toMatchObject({ user: 'sdk-hello', node: expect.any(String), session: expect.any(String), exp: expect.any(Number) });
    expect(c.state).toBe('open');
    expect(c.session).toEqual(hello);
    expect(await c.ping()).toEqual({});
  });

  it('join, send, msg to both members, history and position', async () => {
    const room = 'sdk-chat';
    const alice = client('sdk-alice');
    const bob = client('sdk-bob');
    const [aIn, bIn] = [new Inbox(alice), new Inbox(bob)];
    const joined = await alice.join(room);
    expect(joined).toMatchObject({ room, head: 0, lastRead: 0, unread: 0, occupancy: 1, messages: [], recovered: false, epoch: expect.any(String) });
    expect((await bob.join(room)).occupancy).toBe(2);

    const reply = await alice.send(room, 'hello bob', { mood: 'happy' }, { cid: 'sdk-c1' });
    expect(reply).toEqual({ room, cid: 'sdk-c1', seq: 1, ts: expect.any(Number), dup: false });
    expect((await bob.send(room, 'hi alice')).seq).toBe(2);
    for (const inbox of [aIn, bIn]) {
      const got = await inbox.waitCount(room, 2);
      expect(got.map((m) => [m.seq, m.from, m.body])).toEqual([
        [1, 'sdk-alice', 'hello bob'],
        [2, 'sdk-bob', 'hi alice'],
      ]);
      expect(got[0]).toMatchObject({ cid: 'sdk-c1', meta: { mood: 'happy' }, ts: reply.ts });
    }
    expect(alice.position(room)).toEqual({ epoch: joined.epoch, seq: 2 });

    // Same cid again: not stored twice, the first seq and ts with dup:true.
    expect(await alice.send(room, 'hello bob', undefined, { cid: 'sdk-c1' })).toEqual({ ...reply, dup: true });
    const history = await bob.history(room);
    expect(history).toMatchObject({ room, more: false });
    expect(history.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect((await bob.history(room, { before: 2, limit: 1 })).messages.map((m) => m.body)).toEqual(['hello bob']);
    await bob.ping(); // every push sent before it has arrived: no msg for the dup
    expect(bIn.seqs(room)).toEqual([1, 2]);
  });

  it('join with since delivers the missed messages as msg events, in order', async () => {
    const room = 'sdk-since';
    const writer = client('sdk-since-w');
    await writer.join(room);
    for (const i of range(5)) await writer.send(room, `m${i}`);
    const reader = client('sdk-since-r');
    const inbox = new Inbox(reader);
    const reply = await reader.join(room, { since: 2 });
    expect(reply).toMatchObject({ head: 5, recovered: true });
    expect(inbox.seqs(room)).toEqual([3, 4, 5]);
    expect(reader.position(room)?.seq).toBe(5);
  });

  it('presence: members with device counts, and presence pushes', async () => {
    const room = 'sdk-presence';
    const watcher = client('sdk-pw');
    await watcher.join(room);
    const carol1 = client('sdk-carol');
    const carol2 = client('sdk-carol');
    const online = next(watcher, 'presence', (p) => p.user === 'sdk-carol');
    await carol1.join(room);
    expect(await online).toEqual({ room, user: 'sdk-carol', status: 'online' });
    await carol2.join(room);
    const page = await watcher.presence(room);
    expect(page).toMatchObject({ room, occupancy: 2, next: null });
    expect(page.members.map((m) => [m.user, m.devices]).sort()).toEqual([
      ['sdk-carol', 2],
      ['sdk-pw', 1],
    ]);
    expect(page.members.every((m) => !Number.isNaN(Date.parse(m.since)))).toBe(true);
    expect((await watcher.presence(room, { limit: 1 })).members).toHaveLength(1);
  });

  it('read: the stored pointer, and a read push to the other member', async () => {
    const room = 'sdk-read';
    const alice = client('sdk-read-a');
    const bob = client('sdk-read-b');
    await alice.join(room);
    await bob.join(room);
    for (const i of range(3)) await alice.send(room, `r${i}`);
    const pushed = next(alice, 'read', (r) => r.room === room);
    expect(await bob.read(room, 2)).toEqual({ room, seq: 2 });
    expect(await pushed).toEqual({ room, user: 'sdk-read-b', seq: 2 });
    expect(await bob.read(room, 1)).toEqual({ room, seq: 2 }); // never lowered
    expect(await bob.read(room, 99)).toEqual({ room, seq: 3 }); // above head stores head
    const rejoin = await bob.join(room);
    expect(rejoin).toMatchObject({ lastRead: 3, unread: 0 });
  });

  it('typing: on and off pushes to the other member, off by the server after TYPING_TTL_S', async () => {
    const room = 'sdk-typing';
    const alice = client('sdk-typ-a');
    const bob = client('sdk-typ-b');
    await alice.join(room);
    await bob.join(room);
    const on = next(bob, 'typing', (t) => t.on);
    expect(await alice.typing(room, true)).toEqual({});
    expect(await on).toEqual({ room, user: 'sdk-typ-a', on: true });
    const off = next(bob, 'typing', (t) => !t.on);
    await alice.typing(room, false);
    expect(await off).toEqual({ room, user: 'sdk-typ-a', on: false });
    const expired = next(bob, 'typing', (t) => !t.on);
    await alice.typing(room, true);
    expect(await expired).toEqual({ room, user: 'sdk-typ-a', on: false });
  });

  it('auth with a fresh token answers its exp; later reconnects use it', async () => {
    const c = sdk(node.wsUrl, { token: await node.token('sdk-auth', { ttlS: 600 }) });
    await next(c, 'hello');
    const fresh = await node.token('sdk-auth', { ttlS: 7200 });
    const reply = await c.auth(fresh);
    expect(reply.exp).toBeGreaterThan(Math.floor(Date.now() / 1000) + 3600);
    expect(await codeOf(c.auth('not-a-jwt'))).toBe('unauthorized');
    // The admin drop (reconnectable code): the new connection presents the fresh token.
    const hello = next(c, 'hello');
    await node.admin('POST', '/admin/users/sdk-auth/disconnect', { code: 4000 });
    expect((await hello).exp).toBe(reply.exp);
  });

  it('leave: no more messages from the room', async () => {
    const room = 'sdk-leave';
    const alice = client('sdk-leave-a');
    const bob = client('sdk-leave-b');
    const inbox = new Inbox(bob);
    await alice.join(room);
    await bob.join(room);
    await alice.send(room, 'before');
    await inbox.waitCount(room, 1);
    expect(await bob.leave(room)).toEqual({ room });
    expect(bob.position(room)).toBeUndefined();
    await alice.send(room, 'after');
    await bob.ping();
    expect(inbox.seqs(room)).toEqual([1]);
    expect(await codeOf(bob.send(room, 'not a member'))).toBe('not_joined');
  });

  it('errors: forbidden, not_joined, too_large, bad_request as ParleyClientError codes', async () => {
    const c = client('sdk-err', ['sdk-err-ok']);
    expect(await codeOf(c.join('sdk-err-other'))).toBe('forbidden');
    expect(c.position('sdk-err-other')).toBeUndefined();
    expect(await codeOf(c.history('sdk-err-ok'))).toBe('not_joined');
    await c.join('sdk-err-ok');
    expect(await codeOf(c.send('sdk-err-ok', 'x'.repeat(4097)))).toBe('too_large');
    expect(await codeOf(c.history('sdk-err-ok', { limit: 0 }))).toBe('bad_request');
    expect(await codeOf(c.send('sdk-err-ok', 'x', undefined, { cid: 'bad cid!' }))).toBe('bad_request');
    // The connection stayed usable.
    expect((await within(c.send('sdk-err-ok', 'fine'), 'send')).seq).toBe(1);
  });
});
