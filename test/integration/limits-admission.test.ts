import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Kind, type Refusal } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, "Limits and backpressure": MAX_ROOMS_PER_CONN and MAX_CONNS_PER_USER. */

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ MAX_ROOMS_PER_CONN: '2', MAX_CONNS_PER_USER: '2' });
});
afterAll(async () => {
  await node.close();
});

function expectCapRefusal(kind: Kind, result: TestClient | Refusal): void {
  expect(result).not.toBeInstanceOf(TestClient);
  if (kind === 'ws') expect(result).toEqual({ status: 429 });
  else expect(result).toEqual({ message: 'too_many_connections' });
}

/** The server releases a closed connection's slot asynchronously: retry until accepted, with a deadline. */
async function connectWithin(kind: Kind, token: string, deadlineMs = 5000): Promise<TestClient> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const result = await TestClient.attempt(kind, node, token);
    if (result instanceof TestClient) return result;
    if (Date.now() > deadline) throw new Error(`still refused after ${deadlineMs} ms: ${JSON.stringify(result)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(KINDS)('%s: MAX_ROOMS_PER_CONN', (kind) => {
  it('refuses a third joined room with forbidden; the joined rooms keep working', async () => {
    const [r1, r2, r3] = [`rooms-a-${kind}`, `rooms-b-${kind}`, `rooms-c-${kind}`];
    const c = await TestClient.connect(kind, node, await node.token(`rooms-${kind}`));
    await c.join(r1);
    await c.join(r2);
    expect(await c.request('join', { room: r3 })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // The refused room was not joined; the others still are.
    expect(await c.request('send', { room: r3, cid: 'x', body: 'no' })).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    expect(await c.send(r1, 'm1', 'one')).toMatchObject({ seq: 1 });
    expect(await c.send(r2, 'm2', 'two')).toMatchObject({ seq: 1 });
    expect(await c.waitFor('msg', (f) => f['room'] === r1)).toMatchObject({ body: 'one' });
    expect(await c.waitFor('msg', (f) => f['room'] === r2)).toMatchObject({ body: 'two' });
    // Joining an already joined room is not a new room.
    expect(await c.request('join', { room: r1 })).toMatchObject({ ok: true });
    // Leaving frees a slot.
    expect(await c.request('leave', { room: r2 })).toMatchObject({ ok: true });
    expect(await c.request('join', { room: r3 })).toMatchObject({ ok: true });
    c.close();
  });

  it('counts per connection, not per user', async () => {
    const token = await node.token(`rooms-conn-${kind}`);
    const a = await TestClient.connect(kind, node, token);
    const b = await TestClient.connect(kind, node, token);
    await a.join(`rpc-1-${kind}`);
    await a.join(`rpc-2-${kind}`);
    await b.join(`rpc-3-${kind}`);
    await b.join(`rpc-4-${kind}`);
    a.close();
    b.close();
  });
});

describe.each(KINDS)('%s: MAX_CONNS_PER_USER', (kind) => {
  it('refuses the third connection of a user, and accepts one again after a close', async () => {
    const token = await node.token(`conns-${kind}`);
    const a = await TestClient.connect(kind, node, token);
    const b = await TestClient.connect(kind, node, token);
    expectCapRefusal(kind, await TestClient.attempt(kind, node, token));
    // Another user is not affected.
    const other = await TestClient.connect(kind, node, await node.token(`conns-other-${kind}`));
    // The refused attempt took no slot: after one close, exactly one new connection fits.
    a.close();
    await a.waitClosed();
    const c = await connectWithin(kind, token);
    expectCapRefusal(kind, await TestClient.attempt(kind, node, token));
    await b.barrier();
    await c.barrier();
    for (const x of [b, c, other]) x.close();
  });

  it('counts connections of both transports together', async () => {
    const token = await node.token(`conns-mixed-${kind}`);
    const other: Kind = kind === 'ws' ? 'sio' : 'ws';
    const a = await TestClient.connect(kind, node, token);
    const b = await TestClient.connect(other, node, token);
    expectCapRefusal(kind, await TestClient.attempt(kind, node, token));
    expectCapRefusal(other, await TestClient.attempt(other, node, token));
    b.kill();
    await b.waitClosed();
    const c = await connectWithin(other, token);
    a.close();
    c.close();
  });
});
