import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { KINDS, TestClient, type Kind } from '../helpers/clients.js';
import { nodeFor } from '../helpers/fixtures.js';
import type { TestNode } from '../helpers/node.js';

/**
 * docs/protocol.md, "Limits and backpressure": MAX_CONNS_PER_ADDRESS and HANDSHAKES_PER_ADDRESS,
 * with TRUST_PROXY=1 so that each test is a client address of its own (X-Forwarded-For).
 */

let n = 0;
/** A client address no other test uses. */
const address = () => `198.51.100.${++n}`;

function expectRefused(kind: Kind, result: unknown, code: string): void {
  expect(result).not.toBeInstanceOf(TestClient);
  if (kind === 'ws') expect(result).toEqual({ status: 429, code });
  else expect(result).toEqual({ message: code });
}

/** Retries until the server has released the closed connection's slot, with a deadline. */
async function connectWithin(node: TestNode, kind: Kind, token: string, forwardedFor: string): Promise<TestClient> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const result = await TestClient.refusal(kind, node, token, { forwardedFor });
    if (result instanceof TestClient) return result;
    if (Date.now() > deadline) throw new Error(`still refused: ${JSON.stringify(result)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(KINDS)('%s: MAX_CONNS_PER_ADDRESS', (kind) => {
  const current = nodeFor({ TRUST_PROXY: '1', MAX_CONNS_PER_ADDRESS: '2' });
  it('refuses the third open connection of an address, whoever the users; a close frees a slot', async () => {
    const node = current();
    const from = address();
    const a = await TestClient.connect(kind, node, await node.token(`addr-a-${kind}`), { forwardedFor: from });
    const b = await TestClient.connect(kind, node, await node.token(`addr-b-${kind}`), { forwardedFor: from });
    expectRefused(kind, await TestClient.refusal(kind, node, await node.token(`addr-c-${kind}`), { forwardedFor: from }), 'too_many_address_connections');
    // Another address is not affected; the client's own leftmost entries are not believed.
    const other = await TestClient.connect(kind, node, await node.token(`addr-c-${kind}`), { forwardedFor: `${from}, ${address()}` });
    a.close();
    await a.waitClosed();
    const c = await connectWithin(node, kind, await node.token(`addr-c-${kind}`), from);
    expectRefused(kind, await TestClient.refusal(kind, node, await node.token(`addr-d-${kind}`), { forwardedFor: from }), 'too_many_address_connections');
    for (const x of [b, c, other]) x.close();
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/parley_connections_refused_total\{reason="too_many_address_connections"\} [1-9]/);
  });
});

describe('HANDSHAKES_PER_ADDRESS', () => {
  const current = nodeFor({ TRUST_PROXY: '1', HANDSHAKES_PER_ADDRESS: '4', HANDSHAKE_WINDOW_S: '60' });
  it('/ws: every upgrade counts, refused ones too; the fifth in the window gets 429 too_many_handshakes', async () => {
    const node = current();
    const from = address();
    const token = await node.token('hs-ws');
    const bad = await TestClient.refusal('ws', node, 'not-a-token', { forwardedFor: from });
    expect(bad).toEqual({ status: 401, code: 'unauthorized' });
    const opened: TestClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await TestClient.connect('ws', node, token, { forwardedFor: from });
      opened.push(c);
      c.close();
      await c.waitClosed();
    }
    const third = await TestClient.connect('ws', node, token, { forwardedFor: from });
    expectRefused('ws', await TestClient.refusal('ws', node, token, { forwardedFor: from }), 'too_many_handshakes');
    third.close();
    // The counter is per address.
    (await TestClient.connect('ws', node, token, { forwardedFor: address() })).close();
  });

  it('Socket.IO: counted at the engine.io handshake (429 from the handshake itself), not again at CONNECT', async () => {
    const node = current();
    const from = address();
    const token = await node.token('hs-sio');
    const clients: TestClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await TestClient.connect('sio', node, token, { forwardedFor: from }));
    // A fifth engine.io handshake from the address: refused before any Socket.IO packet.
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${node.wsUrl.replace('/ws', '')}/socket.io/?EIO=4&transport=websocket`, { headers: { 'x-forwarded-for': from } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        reject(new Error('the fifth handshake was accepted'));
      });
      ws.on('error', reject);
    });
    expect(status).toBe(429);
    const polled = await fetch(`${node.httpUrl}/socket.io/?EIO=4&transport=polling`, { headers: { 'x-forwarded-for': from } });
    expect(polled.status).toBe(429);
    expect(await polled.json()).toEqual({ error: { code: 'too_many_handshakes', message: expect.any(String) } });
    for (const c of clients) c.close();
  });
});
