import { io as sioConnect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { pause, within } from '../cluster/support.js';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { freePort } from '../helpers/cluster.js';
import { startNode, type TestNode } from '../helpers/node.js';

/**
 * docs/protocol.md: a Socket.IO client closed with a code after which a /ws client reconnects
 * reconnects by itself with the stock socket.io-client and its default options; after the
 * others (4003 here) it does not.
 */

/** What a stock client saw, in order: `hello` (with its node), `bye` (with its code), `disconnect` (with its reason). */
interface Seen {
  t: string;
  detail: unknown;
}

/** The stock client with its default options (polling first, then the upgrade; reconnection on), or only `transports`. */
function stockClient(url: string, token: string, transports?: ['polling']): { socket: Socket; seen: Seen[]; next(t: string, ms: number): Promise<Seen> } {
  const socket = sioConnect(url, { auth: { token }, ...(transports ? { transports } : {}) });
  const seen: Seen[] = [];
  const waiters: { t: string; resolve: (s: Seen) => void }[] = [];
  const record = (t: string, detail: unknown): void => {
    seen.push({ t, detail });
    for (const w of waiters.filter((x) => x.t === t)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve({ t, detail });
    }
  };
  socket.on('hello', (h: { node: string }) => record('hello', h.node));
  socket.on('bye', (b: { code: number }) => record('bye', b.code));
  socket.on('disconnect', (reason) => record('disconnect', reason));
  socket.on('connect_error', (err) => record('connect_error', err.message));
  return {
    socket,
    seen,
    next: (t, ms) => within(new Promise<Seen>((resolve) => waiters.push({ t, resolve })), `a ${t} event`, ms),
  };
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function upgraded(socket: Socket): Promise<void> {
  if (socket.io.engine.transport.name === 'websocket') return;
  await within(new Promise<void>((resolve) => socket.io.engine.once('upgrade', () => resolve())), 'the upgrade to WebSocket', 5_000);
}

describe('stock socket.io-client, default options', () => {
  it.each([
    ['upgraded to WebSocket', undefined, ['transport close']],
    // The last poll either ends with the session (close) or finds the node gone (error): both reconnect.
    ['on long-polling only', ['polling'] as ['polling'], ['transport close', 'transport error']],
  ])('reconnects by itself after its node drains (bye 1001), %s', { timeout: 40_000 }, async (_label, transports, reasons) => {
    const first = await startNode({ NODE_ID: 'sio-reconnect-a' });
    cleanup.push(() => first.close());
    const secondPort = await freePort();
    // The second node is not up yet: every connection goes to the first.
    const balancer: Balancer = await startBalancer([first.port, secondPort]);
    cleanup.push(() => balancer.close());

    const client = stockClient(balancer.httpUrl, await first.token('sio-reconnect'), transports);
    cleanup.push(() => void client.socket.close());
    expect((await client.next('hello', 5_000)).detail).toBe('sio-reconnect-a');
    if (!transports) await upgraded(client.socket);

    // A long-polling client gets `bye` with its next poll: allow for a loaded machine.
    const bye = client.next('bye', 15_000);
    const disconnected = client.next('disconnect', 15_000);
    const drained = first.node.drain();
    expect((await bye).detail).toBe(1001);
    expect(reasons).toContain((await disconnected).detail);
    expect(client.socket.active).toBe(true);
    await drained;

    const second: TestNode = await startNode({ NODE_ID: 'sio-reconnect-b', PORT: String(secondPort) });
    cleanup.push(() => second.close());
    // socket.io-client's backoff is at most 5 s between attempts.
    expect((await client.next('hello', 20_000)).detail).toBe('sio-reconnect-b');
    expect(client.seen.map((s) => s.t).filter((t) => t !== 'connect_error')).toEqual(['hello', 'bye', 'disconnect', 'hello']);
  });

  it('does not reconnect after an admin disconnect (bye 4003, then "io server disconnect")', async () => {
    const node = await startNode();
    cleanup.push(() => node.close());
    const client = stockClient(node.httpUrl, await node.token('sio-kicked'));
    cleanup.push(() => void client.socket.close());
    await client.next('hello', 5_000);
    await upgraded(client.socket);

    const disconnected = client.next('disconnect', 5_000);
    expect((await node.admin('POST', '/admin/users/sio-kicked/disconnect', {})).body).toEqual({ disconnected: 1 });
    expect((await disconnected).detail).toBe('io server disconnect');
    expect(client.seen.map((s) => [s.t, s.detail])).toEqual([
      ['hello', node.config.nodeId],
      ['bye', 4003],
      ['disconnect', 'io server disconnect'],
    ]);
    expect(client.socket.active).toBe(false);
    // A reconnect would come within socket.io-client's first delay (at most 1.5 s): none does.
    await pause(2_000);
    expect((await node.admin('GET', '/admin/users/sio-kicked/presence')).body).toMatchObject({ online: false, devices: 0 });
    expect(client.seen).toHaveLength(3);
  });
});
