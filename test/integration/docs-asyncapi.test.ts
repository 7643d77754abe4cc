import { afterAll, describe, expect, it } from 'vitest';
import { AsyncApiDoc } from '../helpers/api-docs.js';
import { KINDS, TestClient, type Frame, type Kind, type Reply } from '../helpers/clients.js';
import { nodeFor } from '../helpers/fixtures.js';
import { FrameRecorder } from '../helpers/frame-recorder.js';

/**
 * docs/asyncapi.yaml against a real node: a chat session over /ws and over Socket.IO that
 * uses every request type and provokes every push and error, with each frame sent and received
 * validated against the message schema of its type. A frame type without a schema fails; so
 * does a message of the document that no frame exercised.
 */

const api = new AsyncApiDoc();
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const pushMessage = (kind: Kind, t: string): string => `${kind}${t.split('_').map(cap).join('')}Push`;

/** A request validated on its way out, its reply on its way in. */
async function request(c: TestClient, t: string, payload: Record<string, unknown> = {}, bad = false): Promise<Reply> {
  const frame = c.kind === 'ws' ? { t, rid: 1, ...payload } : payload;
  if (bad) api.refuses(`${c.kind}${cap(t)}Request`, frame);
  else api.check(`${c.kind}${cap(t)}Request`, frame);
  const reply = await c.request(t, payload);
  api.check(reply.ok ? `${c.kind}${cap(t)}Reply` : `${c.kind}ErrorReply`, reply);
  return reply;
}

async function ok(c: TestClient, t: string, payload: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const reply = await request(c, t, payload);
  if (!reply.ok) throw new Error(`${t} failed: ${JSON.stringify(reply.error)}`);
  return reply.data as Record<string, unknown>;
}

async function refused(c: TestClient, t: string, payload: Record<string, unknown>, code: string): Promise<void> {
  const reply = await request(c, t, payload, code === 'bad_request');
  expect(reply.ok, `${t} ${JSON.stringify(payload)}`).toBe(false);
  expect(reply.error?.code).toBe(code);
}

/** Every push a client got, validated against its type's message (Socket.IO: the event payload, without the `t` the helper adds). */
function checkPushes(c: TestClient): void {
  for (const frame of c.pushes) {
    const { t, ...payload } = frame;
    api.check(pushMessage(c.kind, t), c.kind === 'ws' ? frame : payload);
  }
}

const seen = (c: TestClient, t: string, pred: (f: Frame) => boolean = () => true): Promise<Frame> => c.waitFor(t, pred);

describe.each(KINDS)('%s frames match docs/asyncapi.yaml', (kind) => {
  const node = nodeFor({
    MAX_BODY_BYTES: '64',
    PRESENCE_GRACE_S: '0',
    PRESENCE_BATCH_ABOVE: '1',
    PRESENCE_BATCH_MS: '100',
    TYPING_THROTTLE_MS: '0',
  });
  const room = `docs-${kind}`;
  const big = `docs-big-${kind}`;
  const clients: TestClient[] = [];
  const connect = async (user: string, rooms: string[]): Promise<TestClient> => {
    const c = await TestClient.connect(kind, node(), await node().token(user, { rooms }));
    clients.push(c);
    return c;
  };
  afterAll(() => {
    for (const c of clients) c.close();
  });

  it('a session with every request, reply, push and error', async () => {
    const alice = await connect('alice', ['docs-*']);
    const bob = await connect('bob', ['docs-*']);

    // join, presence online, presence_delta in a batching room
    const joined = await ok(alice, 'join', { room });
    expect(joined['head']).toBe(0);
    await ok(bob, 'join', { room });
    await seen(alice, 'presence', (f) => f['user'] === 'bob' && f['status'] === 'online');
    await ok(alice, 'join', { room: big, presence: 'delta' });
    await ok(bob, 'join', { room: big });
    await seen(alice, 'presence_delta', (f) => f['room'] === big && (f['online'] as string[]).includes('bob'));

    // send, its msg push, a dup, meta, history both ways
    const sent = await ok(alice, 'send', { room, cid: 'c1', body: 'hello' });
    await seen(bob, 'msg', (f) => f['cid'] === 'c1');
    expect((await ok(alice, 'send', { room, cid: 'c1', body: 'hello' }))['dup']).toBe(true);
    await ok(alice, 'send', { room, cid: 'c2', body: 'with meta', meta: { reply: sent['seq'] } });
    await seen(bob, 'msg', (f) => f['cid'] === 'c2');
    expect(((await ok(alice, 'history', { room })) ['messages'] as unknown[]).length).toBe(2);
    expect(((await ok(alice, 'history', { room, after: 0, limit: 1 }))['more'])).toBe(true);
    await ok(alice, 'history', { room, before: 2 });
    // message changes: each request, its change push, a thread, summaries and changes in replies
    const target = sent['seq'];
    await ok(alice, 'edit', { room, cid: 'e1', target, body: 'hello!', meta: { edited: true } });
    await seen(bob, 'change', (f) => f['op'] === 'edit');
    await ok(bob, 'react', { room, cid: 'k1', target, reaction: '👍' });
    await ok(bob, 'unreact', { room, cid: 'k2', target, reaction: '👍' });
    await ok(bob, 'react', { room, cid: 'k3', target, reaction: 'party' });
    await seen(alice, 'change', (f) => f['op'] === 'unreact');
    await ok(bob, 'send', { room, cid: 'c4', body: 'in a thread', parent: target });
    const other = await ok(alice, 'send', { room, cid: 'c5', body: 'to delete' });
    await ok(alice, 'delete', { room, cid: 'd1', target: other['seq'] });
    await seen(bob, 'change', (f) => f['op'] === 'delete');
    await refused(bob, 'edit', { room, cid: 'e2', target, body: 'not mine' }, 'forbidden');
    await refused(bob, 'delete', { room, cid: 'd2', target: 999 }, 'not_found');
    await refused(bob, 'react', { room, cid: 'k4', target, reaction: '' }, 'bad_request');
    expect(((await ok(bob, 'history', { room, parent: target }))['messages'] as unknown[]).length).toBe(1);
    const withChanges = await ok(bob, 'history', { room, after: 0 });
    expect((withChanges['changes'] as unknown[]).length).toBe(5);
    const resumed = await ok(alice, 'join', { room, since: 0, epoch: joined['epoch'] });
    expect(resumed['recovered']).toBe(true);

    // presence, occupancy, typing and read pushes
    expect((await ok(alice, 'presence', { room, limit: 10 }))['occupancy']).toBe(2);
    expect((await ok(alice, 'occupancy', { room }))['users']).toBe(2);
    await ok(bob, 'typing', { room, on: true });
    await seen(alice, 'typing', (f) => f['user'] === 'bob' && f['on'] === true);
    await ok(bob, 'read', { room, seq: 1 });
    await seen(alice, 'read', (f) => f['user'] === 'bob' && f['seq'] === 1);

    // auth, ping
    await ok(alice, 'auth', { token: await node().token('alice', { rooms: ['docs-*'] }) });
    await refused(alice, 'auth', { token: 'not-a-jwt' }, 'unauthorized');
    await ok(alice, 'ping');

    // moderation: a moderator's moderate request, the moderated push, muted and slow_mode (reply and push)
    const dave = await TestClient.connect(kind, node(), await node().token('dave', { rooms: [], mod: ['docs-*'] }));
    clients.push(dave);
    expect((await ok(dave, 'moderate', { room, action: 'mute', user: 'bob', duration: 60 }))['until']).toEqual(expect.any(Number));
    await seen(bob, 'moderated', (f) => f['action'] === 'mute');
    await refused(bob, 'send', { room, cid: 'b-muted', body: 'x' }, 'muted');
    bob.fire('send', { room, cid: 'b-muted', body: 'x' });
    await seen(bob, 'error', (f) => f['code'] === 'muted');
    await ok(dave, 'moderate', { room, action: 'unmute', user: 'bob' });
    await seen(bob, 'moderated', (f) => f['action'] === 'unmute');
    expect((await node().admin('PUT', `/admin/rooms/${room}/slowmode`, { seconds: 60 })).status).toBe(200);
    await ok(bob, 'send', { room, cid: 'b-slow-1', body: 'x' });
    await refused(bob, 'send', { room, cid: 'b-slow-2', body: 'x' }, 'slow_mode');
    expect((await node().admin('DELETE', `/admin/rooms/${room}/slowmode`)).status).toBe(200);
    await refused(bob, 'moderate', { room, action: 'ban', user: 'alice' }, 'forbidden');
    await refused(dave, 'moderate', { room, action: 'unban', user: 'bob', duration: 5 }, 'bad_request');

    // errors: each code a request can get, in a reply and in an error push
    await refused(alice, 'join', { room: 'vip' }, 'forbidden');
    await refused(alice, 'history', { room: 'docs-elsewhere' }, 'not_joined');
    await refused(alice, 'send', { room, cid: 'c3', body: 'x'.repeat(65) }, 'too_large');
    await refused(alice, 'history', { room, limit: 101 }, 'bad_request');
    alice.fire('nope');
    await seen(alice, 'error', (f) => f['code'] === 'bad_request');
    const carol = await connect('carol', ['docs-*']);
    for (let i = 0; i < 50; i++) carol.fire('ping');
    await seen(carol, 'error', (f) => f['code'] === 'rate_limited');

    // leave, presence offline, and a close by the server (Socket.IO: after a bye)
    await ok(bob, 'leave', { room });
    await seen(alice, 'presence', (f) => f['user'] === 'bob' && f['status'] === 'offline');
    const admin = await node().admin('POST', '/admin/users/alice/disconnect', {});
    expect(admin.status).toBe(200);
    expect((await alice.waitClosed()).code).toBe(4003);
    if (kind === 'sio') await seen(alice, 'bye', (f) => f['code'] === 4003);

    for (const c of [alice, bob, carol, dave]) checkPushes(c);
  });
});

describe('/ws?batch=1 frames match docs/asyncapi.yaml', () => {
  // A burst from one connection is the point here, not the rate limit.
  const node = nodeFor({ RATE_PER_S: '10000', RATE_BURST: '10000' });

  it('a burst reaches a batch connection as arrays of msg and read pushes, each element valid', async () => {
    const room = 'docs-batch';
    const batched = await FrameRecorder.open(node(), await node().token('bea'), '&batch=1');
    const sender = await TestClient.connect('ws', node(), await node().token('sam'));
    try {
      expect((await batched.request('join', { room }))['ok']).toBe(true);
      await sender.join(room);
      const sends = Array.from({ length: 60 }, (_, i) => sender.request('send', { room, cid: `b${i}`, body: `m${i}` }));
      await sender.request('read', { room, seq: 1 });
      expect((await Promise.all(sends)).every((r) => r.ok)).toBe(true);
      await batched.until(() => batched.pushes.some((p) => p.t === 'msg' && p.seq === 60), 'the last message');
      await batched.until(() => batched.pushes.some((p) => p.t === 'read'), 'the read push');
      const arrays = batched.frames.filter((f): f is unknown[] => Array.isArray(f));
      expect(arrays.length).toBeGreaterThan(0);
      for (const frame of batched.frames) {
        if (Array.isArray(frame)) {
          api.check('wsBatchedPush', frame);
          for (const push of frame as { t: string }[]) api.check(pushMessage('ws', push.t), push);
        } else if ((frame as { t: string }).t !== 'reply') {
          api.check(pushMessage('ws', (frame as { t: string }).t), frame);
        }
      }
      api.refuses('wsBatchedPush', [{ t: 'typing', room, user: 'sam', on: true }, { t: 'typing', room, user: 'sam', on: false }]);
    } finally {
      batched.ws.close();
      sender.close();
    }
  });
});

describe('docs/asyncapi.yaml coverage', () => {
  it('every message of the document was exercised by a real frame', () => {
    const never = api.messageNames().filter((m) => !api.exercised.has(m));
    expect(never).toEqual([]);
  });
});
