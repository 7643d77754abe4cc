/**
 * The SDK against a real node when a rejoin's gap is larger than a `join` reply may carry
 * (RECOVERY_MAX_BYTES): it fetches the rest with `history` and `after`, and delivers every
 * message once, in seq order, live ones sent meanwhile included (docs/protocol.md, "Recovery").
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GapEvent } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { startProxy, type TcpProxy } from '../helpers/proxy.js';
import { Inbox, closeAll, next, range, sdk } from './sdk-support.js';

const MISSED = 600;
const BODY = 3000;

let node: TestNode;
let proxy: TcpProxy;
beforeAll(async () => {
  // Hundreds of sends from one client: the rate limit is not under test here.
  node = await startNode({ RATE_PER_S: '1000', RATE_BURST: '1000' });
  proxy = await startProxy(node.port);
});
afterEach(closeAll);
afterAll(async () => {
  await proxy.close();
  await node.close();
});

describe('SDK catch-up', () => {
  it('resumes a gap of 600 messages of 3000 bytes exactly once and in order, then the live ones', async () => {
    const room = 'cu-big';
    const alice = sdk(proxy.wsUrl, { getToken: () => node.token('cu-alice') });
    const bob = sdk(node.wsUrl, { getToken: () => node.token('cu-bob') });
    const inbox = new Inbox(alice);
    const gaps: GapEvent[] = [];
    alice.on('gap', (g) => gaps.push(g));
    const closes: number[] = [];
    alice.on('close', (c) => closes.push(c.code));
    await alice.join(room);
    await bob.join(room);
    await bob.send(room, 'before');
    await inbox.waitCount(room, 1);

    // Alice's network goes down while bob writes far more than one join reply can carry.
    proxy.pause();
    const reconnecting = next(alice, 'state', (s) => s === 'reconnecting');
    proxy.dropAll();
    await reconnecting;
    await Promise.all(range(MISSED).map((i) => bob.send(room, `${i}:`.padEnd(BODY, 'x'))));
    const hello = next(alice, 'hello');
    proxy.resume();
    await hello;
    // Sent while alice catches up: delivered after the pages, once.
    for (const i of range(3)) await bob.send(room, `live ${i}`);

    const total = 1 + MISSED + 3;
    await inbox.waitCount(room, total, 15_000);
    await alice.ping();
    expect(inbox.seqs(room)).toEqual(range(total));
    expect(inbox.of(room).slice(-3).map((m) => m.body)).toEqual(['live 1', 'live 2', 'live 3']);
    // 1.8 MB of missed messages cannot ride one join reply: the pages brought them, no gap.
    expect(gaps).toEqual([]);
    expect(closes).toEqual([1006]);
    expect(alice.position(room)?.seq).toBe(total);
  });
});
