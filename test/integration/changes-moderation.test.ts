import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys } from '../contract/redis-support.js';
import { KINDS, TestClient, type Kind } from '../helpers/clients.js';
import { HookServer } from '../helpers/hook-server.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { uniquePrefix } from '../helpers/services.js';

/**
 * docs/protocol.md, "Message changes", under moderation: what a ban, a mute and slow mode do to
 * changes, the sender's message rate counting replies and edits, and the before-publish hook
 * seeing replies and edits (and changing them), never reactions or deletes.
 */

const PREFIX = uniquePrefix('chgmod');
let hook: HookServer;
let node: TestNode;
beforeAll(async () => {
  hook = await HookServer.start();
  hook.answer = () => ({ verdict: { action: 'accept' } });
});
afterAll(async () => {
  await hook?.close();
  const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  await deleteKeys(redis, `*${PREFIX}*`).finally(() => redis.quit());
});

/** The room state of each mode: the memory one's rules in TypeScript, the Redis one's in Lua. */
const MODES: [string, Record<string, string>][] = [
  ['embedded', {}],
  ['Redis', { REDIS_URL: 'redis://127.0.0.1:6379', KEY_PREFIX: PREFIX }],
];

async function member(kind: Kind, user: string, room: string): Promise<TestClient> {
  const c = await TestClient.connect(kind, node, await node.token(user));
  await c.join(room);
  return c;
}

async function data(c: TestClient, t: string, payload: Record<string, unknown>): Promise<{ seq: number; ts: number; dup: boolean }> {
  const r = await c.request(t, payload);
  if (!r.ok) throw new Error(`${t} failed: ${JSON.stringify(r.error)}`);
  return r.data as { seq: number; ts: number; dup: boolean };
}

const code = async (c: TestClient, t: string, payload: Record<string, unknown>): Promise<string | undefined> => (await c.request(t, payload)).error?.code;

describe.each(MODES)('%s', (_mode, env) => {
  beforeAll(async () => {
    node = await startNode({ HOOK_PUBLISH_URL: hook.url, HOOK_TIMEOUT_MS: '2000', MSG_RATE_PER_USER: '6', MSG_RATE_WINDOW_S: '60', ...env });
  });
  afterAll(async () => {
    await node?.close();
  });

  describe.each(KINDS)('%s: message changes under moderation', (kind) => {
    it('a muted author may delete but not edit, react or reply; a resend stays a dup', async () => {
      const room = `chg-mod-${kind}`;
      const user = `chg-ann-${kind}`;
      const ann = await member(kind, user, room);
      const bob = await member(kind, `chg-bob-${kind}`, room);
      const m1 = await data(ann, 'send', { room, cid: 'm1', body: 'one' });
      const m2 = await data(ann, 'send', { room, cid: 'm2', body: 'two' });
      const k1 = await data(ann, 'react', { room, cid: 'k1', target: m2.seq, reaction: 'ok' });
      expect((await node.admin('PUT', `/admin/rooms/${room}/mutes/${user}`, {})).status).toBe(200);
      expect(await code(ann, 'edit', { room, cid: 'e1', target: m1.seq, body: 'x' })).toBe('muted');
      expect(await code(ann, 'react', { room, cid: 'k2', target: m1.seq, reaction: 'ok' })).toBe('muted');
      expect(await code(ann, 'unreact', { room, cid: 'k3', target: m2.seq, reaction: 'ok' })).toBe('muted');
      expect(await code(ann, 'send', { room, cid: 'r1', body: 'reply', parent: m1.seq })).toBe('muted');
      // A resend of an accepted cid is its dup whatever the restrictions.
      expect(await data(ann, 'react', { room, cid: 'k1', target: m2.seq, reaction: 'ok' })).toEqual({ ...k1, room, cid: 'k1', dup: true });
      const del = await data(ann, 'delete', { room, cid: 'd1', target: m1.seq });
      expect(await bob.waitFor('change', (f) => f['op'] === 'delete')).toMatchObject({ seq: del.seq, target: m1.seq });
      // Unmuted, the rest goes through again.
      expect((await node.admin('DELETE', `/admin/rooms/${room}/mutes/${user}`)).status).toBe(200);
      await data(ann, 'edit', { room, cid: 'e1', target: m2.seq, body: 'two, edited' });
      ann.close();
      bob.close();
    });

    it('slow mode holds replies back, not reactions or edits', async () => {
      const room = `chg-slow-${kind}`;
      const ann = await member(kind, `slow-ann-${kind}`, room);
      const m = await data(ann, 'send', { room, cid: 'm1', body: 'first' });
      expect((await node.admin('PUT', `/admin/rooms/${room}/slowmode`, { seconds: 60 })).status).toBe(200);
      // Slow mode counts from the first send while it is on: a reply is one.
      await data(ann, 'send', { room, cid: 'r1', body: 'a reply', parent: m.seq });
      expect(await code(ann, 'send', { room, cid: 'r2', body: 'another reply', parent: m.seq })).toBe('slow_mode');
      await data(ann, 'react', { room, cid: 'k1', target: m.seq, reaction: 'ok' });
      await data(ann, 'edit', { room, cid: 'e1', target: m.seq, body: 'first, edited' });
      expect((await node.admin('DELETE', `/admin/rooms/${room}/slowmode`)).status).toBe(200);
      ann.close();
    });

    it('the hook sees replies (send with parent) and edits (with target), may change them, and never sees reactions or deletes', async () => {
      const room = `chg-hook-${kind}`;
      const ann = await member(kind, `hook-ann-${kind}`, room);
      const bob = await member(kind, `hook-bob-${kind}`, room);
      hook.answer = (call) => (String(call.body['body']).includes('darn') ? { verdict: { action: 'modify', body: String(call.body['body']).replace('darn', '****') } } : { verdict: { action: 'accept' } });
      const seen = hook.calls.length;
      try {
        const m = await data(ann, 'send', { room, cid: 'm1', body: 'hello' });
        await data(bob, 'send', { room, cid: 'r1', body: 'darn right', parent: m.seq });
        await data(ann, 'edit', { room, cid: 'e1', target: m.seq, body: 'hello, darn it', meta: { x: 1 } });
        await data(bob, 'react', { room, cid: 'k1', target: m.seq, reaction: 'ok' });
        const other = await data(ann, 'send', { room, cid: 'm2', body: 'to delete' });
        await data(ann, 'delete', { room, cid: 'd1', target: other.seq });
        const calls = hook.calls.slice(seen).filter((c) => c.body['room'] === room).map((c) => c.body);
        expect(calls).toEqual([
          { op: 'send', room, from: `hook-ann-${kind}`, cid: 'm1', body: 'hello' },
          { op: 'send', room, from: `hook-bob-${kind}`, cid: 'r1', body: 'darn right', parent: m.seq },
          { op: 'edit', room, from: `hook-ann-${kind}`, cid: 'e1', body: 'hello, darn it', meta: { x: 1 }, target: m.seq },
          { op: 'send', room, from: `hook-ann-${kind}`, cid: 'm2', body: 'to delete' },
        ]);
        expect(await ann.waitFor('msg', (f) => f['cid'] === 'r1')).toMatchObject({ body: '**** right', parent: m.seq });
        expect(await bob.waitFor('change', (f) => f['op'] === 'edit')).toMatchObject({ body: 'hello, **** it', meta: { x: 1 } });
        // A rejected edit takes no seq.
        hook.answer = () => ({ verdict: { action: 'reject', code: 'nope' } });
        const { head } = await ann.join(room);
        expect(await code(ann, 'edit', { room, cid: 'e2', target: m.seq, body: 'again' })).toBe('rejected');
        expect((await ann.join(room)).head).toBe(head);
      } finally {
        hook.answer = () => ({ verdict: { action: 'accept' } });
      }
      ann.close();
      bob.close();
    });
  });

  describe('the message rate counts replies and edits, not reactions', () => {
    it('MSG_RATE_PER_USER = 6: sends, replies and edits share it; reactions go on; the change rules come before it', async () => {
      const room = 'chg-rate';
      const ann = await member('ws', 'rate-ann', room);
      const m = await data(ann, 'send', { room, cid: 'm1', body: 'one' });
      await data(ann, 'send', { room, cid: 'r1', body: 'reply', parent: m.seq });
      for (let i = 1; i <= 4; i++) await data(ann, 'edit', { room, cid: `e${i}`, target: m.seq, body: `v${i}` });
      expect(await code(ann, 'edit', { room, cid: 'e5', target: m.seq, body: 'v5' })).toBe('user_rate_limited');
      expect(await code(ann, 'send', { room, cid: 'r2', body: 'reply', parent: m.seq })).toBe('user_rate_limited');
      expect(await code(ann, 'edit', { room, cid: 'e6', target: 999, body: 'nowhere' })).toBe('not_found');
      for (let i = 1; i <= 8; i++) await data(ann, i % 2 ? 'react' : 'unreact', { room, cid: `k${i}`, target: m.seq, reaction: 'ok' });
      ann.close();
    });
  });
});
