// docs/protocol.md, `hello`: "the server pings every `heartbeat` seconds and closes a connection from
// which nothing (not even a pong) arrived for twice that". The node pings its connections in
// slices spread over the period, not all in one turn: every connection still gets a ping each
// period, and every silent one is still dropped, none of them before two silent heartbeats.
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startNode, type TestNode } from '../helpers/node.js';
import { until } from './http-support.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.close();
  node = undefined;
});

/** A /ws client that has read its `hello`, recording when pings arrive (ws answers them itself). */
async function open(n: TestNode, user: string): Promise<{ ws: WebSocket; pings: number[] }> {
  const ws = new WebSocket(`${n.wsUrl}?token=${encodeURIComponent(await n.token(user))}`);
  const pings: number[] = [];
  ws.on('ping', () => pings.push(Date.now()));
  await new Promise((resolve, reject) => {
    ws.once('message', resolve);
    ws.once('error', reject);
  });
  return { ws, pings };
}

async function connections(n: TestNode): Promise<number> {
  return ((await n.admin('GET', '/admin/stats')).body as { connections: number }).connections;
}

describe('heartbeat in slices', () => {
  it('pings every connection each period, spread over it; drops every silent one after two silent heartbeats, and only those', { timeout: 40_000 }, async () => {
    // 1 s: five slices of 200 ms.
    node = await startNode({ HEARTBEAT_S: '1' });
    const n = node;
    const normal = await Promise.all(Array.from({ length: 20 }, (_, i) => open(n, `hs-normal-${i}`)));
    // Whatever a silent connection last sent, it sent after this.
    const silentFrom = Date.now();
    const silent = await Promise.all(Array.from({ length: 10 }, (_, i) => open(n, `hs-silent-${i}`)));
    // Not reading means not seeing pings, so no pong goes back.
    for (const s of silent) (s.ws as unknown as { _socket: Socket })._socket.pause();
    expect(await connections(n)).toBe(30);

    // Two silent heartbeats at least, then one more period for their slot to come round, plus slack for a busy machine.
    await until('every silent connection dropped', async () => ((await connections(n)) === 20 ? true : undefined), 15_000);
    expect(Date.now() - silentFrom).toBeGreaterThanOrEqual(2000);

    // The normal connections were idle as long and are all still open, each pinged once per period or so.
    const from = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await connections(n)).toBe(20);
    for (const c of normal) {
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      expect(c.pings.filter((t) => t >= from).length).toBeGreaterThanOrEqual(2);
    }
    // Spread: within one period, the pings reached the connections at several moments, not in one turn.
    const round = normal.map((c) => c.pings.find((t) => t >= from + 1000)).filter((t): t is number => t !== undefined);
    expect(round).toHaveLength(20);
    expect(Math.max(...round) - Math.min(...round)).toBeGreaterThanOrEqual(300);
    for (const c of [...normal, ...silent]) c.ws.terminate();
  });
});
