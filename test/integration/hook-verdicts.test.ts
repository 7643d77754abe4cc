import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { HookServer } from '../helpers/hook-server.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/hooks.md: a before-publish hook that accepts, rejects or modifies, on both transports. */

let hook: HookServer;
let node: TestNode;
beforeAll(async () => {
  hook = await HookServer.start();
  node = await startNode({ HOOK_PUBLISH_URL: hook.url, HOOK_TIMEOUT_MS: '2000' });
});
afterAll(async () => {
  await node?.close();
  await hook?.close();
});

async function member(kind: string, user: string, room: string): Promise<TestClient> {
  const c = await TestClient.connect(kind as 'ws', node, await node.token(user));
  await c.join(room);
  return c;
}

describe.each(KINDS)('%s: before-publish hook verdicts', (kind) => {
  it('accept: the hook gets the message (op, room, from, cid, body, meta) and it goes out as sent', async () => {
    const room = `hook-accept-${kind}`;
    hook.answer = () => ({ verdict: { action: 'accept' } });
    const c = await member(kind, `ann-${kind}`, room);
    const reply = await c.request('send', { room, cid: 'a1', body: 'hello', meta: { lang: 'en' } });
    expect(reply).toMatchObject({ ok: true, data: { room, cid: 'a1', seq: 1, dup: false } });
    expect(hook.callsFor('a1').filter((x) => x.body['room'] === room).map((x) => x.body)).toEqual([
      { op: 'send', room, from: `ann-${kind}`, cid: 'a1', body: 'hello', meta: { lang: 'en' } },
    ]);
    expect(hook.calls.at(-1)?.headers['content-type']).toBe('application/json');
    expect(await c.waitFor('msg', (f) => f['room'] === room)).toMatchObject({ seq: 1, body: 'hello', meta: { lang: 'en' } });
    c.close();
  });

  it('reject: the sender gets `rejected` with the hook\'s code and message; nothing is stored or delivered', async () => {
    const room = `hook-reject-${kind}`;
    hook.answer = (call) => (call.body['body'] === 'spam' ? { verdict: { action: 'reject', code: 'spam', message: 'no spam here' } } : { verdict: { action: 'accept' } });
    const c = await member(kind, `rex-${kind}`, room);
    expect((await c.request('send', { room, cid: 'r1', body: 'spam' })).error).toEqual({ code: 'rejected', message: 'no spam here', reason: 'spam' });
    // A frame without rid gets the same error as a push.
    c.fire('send', { room, cid: 'r2', body: 'spam' });
    expect(await c.waitFor('error')).toMatchObject({ code: 'rejected', message: 'no spam here', reason: 'spam' });
    // The next accepted message takes seq 1: the rejected ones took none, and nobody received them.
    expect(await c.send(room, 'r3', 'fine')).toMatchObject({ seq: 1 });
    await c.barrier();
    expect(c.received('msg', (f) => f['room'] === room).map((f) => f['body'])).toEqual(['fine']);
    // A rejection is not remembered: the same cid asks the hook again.
    const before = hook.callsFor('r1').length;
    hook.answer = () => ({ verdict: { action: 'accept' } });
    expect(await c.request('send', { room, cid: 'r1', body: 'spam' })).toMatchObject({ ok: true, data: { seq: 2, dup: false } });
    expect(hook.callsFor('r1').length).toBe(before + 1);
    c.close();
  });

  it('reject without code or message: reason `rejected` and a default message', async () => {
    const room = `hook-reject-bare-${kind}`;
    hook.answer = () => ({ verdict: { action: 'reject' } });
    const c = await member(kind, `bare-${kind}`, room);
    expect((await c.request('send', { room, cid: 'b1', body: 'x' })).error).toEqual({ code: 'rejected', message: 'the message was rejected', reason: 'rejected' });
    c.close();
  });

  it('modify: the members, the reply\'s seq and history get the new body and meta; null removes meta', async () => {
    const room = `hook-modify-${kind}`;
    hook.answer = (call) =>
      call.body['cid'] === 'm1'
        ? { verdict: { action: 'modify', body: String(call.body['body']).replace('darn', '****'), meta: { moderated: true } } }
        : { verdict: { action: 'modify', meta: null } };
    const c = await member(kind, `mod-${kind}`, room);
    const other = await member(kind, `mod-other-${kind}`, room);
    expect(await c.send(room, 'm1', 'oh darn')).toMatchObject({ seq: 1, dup: false });
    expect(await other.waitFor('msg', (f) => f['room'] === room)).toMatchObject({ seq: 1, body: 'oh ****', meta: { moderated: true } });
    expect(await c.send(room, 'm2', 'keep me')).toMatchObject({ seq: 2 });
    const second = await other.waitFor('msg', (f) => f['room'] === room);
    expect(second).toMatchObject({ seq: 2, body: 'keep me' });
    expect('meta' in second).toBe(false);
    const history = await c.request('history', { room });
    expect(history.data.messages.map((m: { body: string }) => m.body)).toEqual(['oh ****', 'keep me']);
    c.close();
    other.close();
  });

  it('a resend of an accepted cid is answered as a dup without calling the hook again', async () => {
    const room = `hook-dup-${kind}`;
    hook.answer = () => ({ verdict: { action: 'modify', body: 'as modified' } });
    const c = await member(kind, `dup-${kind}`, room);
    const first = await c.send(room, 'd1', 'original');
    const calls = hook.callsFor('d1').length;
    const again = await c.request('send', { room, cid: 'd1', body: 'original' });
    expect(again).toMatchObject({ ok: true });
    expect(again.data).toEqual({ ...first, dup: true });
    expect(hook.callsFor('d1').length).toBe(calls);
    // From another connection of the same user too (the dedupe is per user, room and cid).
    const c2 = await member(kind, `dup-${kind}`, room);
    expect((await c2.request('send', { room, cid: 'd1', body: 'original' })).data).toMatchObject({ seq: first.seq, dup: true });
    expect(hook.callsFor('d1').length).toBe(calls);
    c.close();
    c2.close();
  });
});

describe('the hook only sees what passes the limits, and admin posts skip it', () => {
  it('a muted user\'s send is refused before the hook is called', async () => {
    const room = 'hook-muted';
    hook.answer = () => ({ verdict: { action: 'accept' } });
    const c = await member('ws', 'hushed', room);
    expect((await node.admin('PUT', `/admin/rooms/${room}/mutes/hushed`, {})).status).toBe(200);
    expect(await c.request('send', { room, cid: 'h1', body: 'x' })).toMatchObject({ ok: false, error: { code: 'muted', until: null } });
    expect(hook.callsFor('h1').filter((x) => x.body['room'] === room)).toEqual([]);
    c.close();
  });

  it('a message posted through the admin API is not sent to the hook', async () => {
    hook.answer = () => ({ verdict: { action: 'reject', code: 'no' } });
    const posted = await node.admin('POST', '/admin/rooms/hook-admin/messages', { cid: 'sys-1', body: 'maintenance' });
    expect(posted).toMatchObject({ status: 200, body: { seq: 1, dup: false } });
    expect(hook.callsFor('sys-1')).toEqual([]);
  });

  it('calls reuse keep-alive connections, and the metrics count them by outcome', async () => {
    const room = 'hook-keepalive';
    hook.answer = () => ({ verdict: { action: 'accept' } });
    const c = await member('ws', 'kept', room);
    const before = hook.connections;
    for (let i = 0; i < 20; i++) await c.send(room, `k${i}`, 'x');
    expect(hook.connections - before).toBeLessThanOrEqual(1);
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/parley_hook_calls_total\{outcome="accept"\} [1-9]/);
    expect(metrics).toMatch(/parley_hook_calls_total\{outcome="reject"\} [1-9]/);
    expect(metrics).toMatch(/parley_hook_calls_total\{outcome="modify"\} [1-9]/);
    expect(metrics).toMatch(/parley_hook_latency_seconds_count [1-9]/);
    expect(metrics).toMatch(/parley_hook_breaker_state 0/);
    expect(metrics).toMatch(/parley_sends_refused_total\{code="rejected"\} [1-9]/);
    c.close();
  });
});
