import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Kind } from '../helpers/clients.js';
import { freePort } from '../helpers/cluster.js';
import { HookServer } from '../helpers/hook-server.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/hooks.md, "When the hook fails": a slow, failing or unreachable hook under HOOK_FAIL=open and closed, and the circuit breaker. */

const TIMEOUT_MS = 300;

let hook: HookServer;
beforeAll(async () => {
  hook = await HookServer.start();
});
afterAll(async () => {
  await hook?.close();
});

function nodeWith(env: () => Record<string, string>): () => TestNode {
  let node: TestNode | undefined;
  beforeAll(async () => {
    node = await startNode({ HOOK_TIMEOUT_MS: String(TIMEOUT_MS), HOOK_BREAKER_FAILURES: '1000', ...env() });
  });
  afterAll(async () => {
    await node?.close();
  });
  return () => node!;
}

async function member(node: TestNode, kind: Kind, user: string, room: string): Promise<TestClient> {
  const c = await TestClient.connect(kind, node, await node.token(user));
  await c.join(room);
  return c;
}

async function metric(node: TestNode, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? NaN);
}

describe.each(['open', 'closed'] as const)('HOOK_FAIL=%s', (policy) => {
  const node = nodeWith(() => ({ HOOK_PUBLISH_URL: hook.url, HOOK_FAIL: policy }));

  const expectPolicy = async (c: TestClient, room: string, cid: string) => {
    const started = Date.now();
    const reply = await c.request('send', { room, cid, body: `body of ${cid}` });
    if (policy === 'open') expect(reply).toMatchObject({ ok: true, data: { cid, dup: false } });
    else expect(reply).toMatchObject({ ok: false, error: { code: 'overloaded' } });
    return { reply, ms: Date.now() - started };
  };

  it.each(KINDS)('%s: a hook slower than HOOK_TIMEOUT_MS: the send is answered by the policy, right after the deadline', async (kind) => {
    const room = `slow-${policy}-${kind}`;
    hook.answer = () => ({ verdict: { action: 'reject', code: 'late' }, delayMs: 3 * TIMEOUT_MS });
    const c = await member(node(), kind, `slow-${kind}`, room);
    const { ms } = await expectPolicy(c, room, 's1');
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(ms).toBeLessThan(3 * TIMEOUT_MS);
    // Once the hook answers in time again, a resend is screened anew: under `closed` it was never stored.
    hook.answer = () => ({ verdict: { action: 'accept' } });
    const again = await c.send(room, 's1', 'body of s1');
    expect(again).toMatchObject({ seq: 1, dup: policy === 'open' });
    c.close();
  });

  it('a hook that answers HTTP 500, a malformed verdict or an oversize modify: the policy', async () => {
    const room = `bad-${policy}`;
    const c = await member(node(), 'ws', 'bad', room);
    const answers = [
      { status: 500, body: 'boom' },
      { status: 200, body: 'not json' },
      { verdict: { action: 'maybe' } },
      { verdict: { action: 'modify', body: 'x'.repeat(5000) } },
      { verdict: { action: 'reject', code: 'has spaces' } },
    ];
    for (const [i, answer] of answers.entries()) {
      hook.answer = () => answer;
      await expectPolicy(c, room, `b${i}`);
    }
    hook.answer = () => ({ destroy: true });
    await expectPolicy(c, room, 'cut');
    expect(await metric(node(), /parley_hook_calls_total\{outcome="error"\} (\d+)/)).toBeGreaterThanOrEqual(6);
    c.close();
  });
});

describe.each(['open', 'closed'] as const)('HOOK_FAIL=%s, hook down', (policy) => {
  let port = 0;
  // Before the node starts: a port nothing listens on.
  beforeAll(async () => {
    port = await freePort();
  });
  const node = nodeWith(() => ({ HOOK_PUBLISH_URL: `http://127.0.0.1:${port}/publish`, HOOK_FAIL: policy }));

  it.each(KINDS)('%s: nothing listens at HOOK_PUBLISH_URL: accepted (open) or overloaded (closed), at once', async (kind) => {
    expect(node().config.hook?.url).toBe(`http://127.0.0.1:${port}/publish`);
    expect(port).toBeGreaterThan(0);
    const room = `down-${policy}-${kind}`;
    const c = await member(node(), kind, `down-${kind}`, room);
    const started = Date.now();
    const reply = await c.request('send', { room, cid: 'x1', body: 'hello' });
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);
    if (policy === 'open') {
      expect(reply).toMatchObject({ ok: true, data: { seq: 1 } });
      expect(await c.waitFor('msg', (f) => f['room'] === room)).toMatchObject({ body: 'hello' });
    } else {
      expect(reply).toMatchObject({ ok: false, error: { code: 'overloaded' } });
      expect((await c.request('history', { room })).data.messages).toEqual([]);
    }
    c.close();
  });
});

describe('the circuit breaker', () => {
  const COOLDOWN_MS = 600;
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ HOOK_PUBLISH_URL: hook.url, HOOK_FAIL: 'closed', HOOK_TIMEOUT_MS: String(TIMEOUT_MS), HOOK_BREAKER_FAILURES: '3', HOOK_BREAKER_COOLDOWN_MS: String(COOLDOWN_MS) });
  });
  afterAll(async () => {
    await node?.close();
  });

  it('opens after HOOK_BREAKER_FAILURES failures in a row, stops calling, and closes again after a good trial call', async () => {
    const room = 'breaker';
    const c = await member(node, 'ws', 'breaker', room);
    hook.answer = () => ({ status: 503 });
    const before = hook.calls.length;
    for (let i = 0; i < 3; i++) expect((await c.request('send', { room, cid: `f${i}`, body: 'x' })).error?.code).toBe('overloaded');
    expect(hook.calls.length - before).toBe(3);
    expect(await metric(node, /parley_hook_breaker_state (\d+)/)).toBe(1);
    // Open: the hook is not called, and the policy answers at once.
    hook.answer = () => ({ verdict: { action: 'accept' } });
    const openedAt = Date.now();
    expect((await c.request('send', { room, cid: 'skip', body: 'x' })).error?.code).toBe('overloaded');
    expect(hook.calls.length - before).toBe(3);
    expect(await metric(node, /parley_hook_calls_total\{outcome="skipped"\} (\d+)/)).toBeGreaterThanOrEqual(1);
    // After the cool-down one trial goes through; its success closes the breaker.
    let accepted: unknown;
    for (let i = 0; i < 40 && accepted === undefined; i++) {
      const reply = await c.request('send', { room, cid: 'trial', body: 'x' });
      if (reply.ok) accepted = reply.data;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(accepted).toMatchObject({ seq: 1 });
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(COOLDOWN_MS - 100);
    expect(await metric(node, /parley_hook_breaker_state (\d+)/)).toBe(0);
    const calls = hook.calls.length;
    expect(await c.send(room, 'after', 'x')).toMatchObject({ seq: 2 });
    expect(hook.calls.length).toBe(calls + 1);
    c.close();
  });

  it('a failed trial opens it again for another cool-down', async () => {
    const room = 'breaker-again';
    const c = await member(node, 'ws', 'breaker2', room);
    hook.answer = () => ({ status: 500 });
    for (let i = 0; i < 3; i++) await c.request('send', { room, cid: `g${i}`, body: 'x' });
    expect(await metric(node, /parley_hook_breaker_state (\d+)/)).toBe(1);
    const calls = hook.calls.length;
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 50));
    expect((await c.request('send', { room, cid: 'trial', body: 'x' })).error?.code).toBe('overloaded');
    expect(hook.calls.length).toBe(calls + 1);
    expect((await c.request('send', { room, cid: 'next', body: 'x' })).error?.code).toBe('overloaded');
    expect(hook.calls.length).toBe(calls + 1);
    expect(await metric(node, /parley_hook_breaker_state (\d+)/)).toBe(1);
    c.close();
  });
});
