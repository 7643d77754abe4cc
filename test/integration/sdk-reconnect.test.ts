/**
 * The SDK across connection losses against a real node: resume with `since` after a network
 * failure (a TCP proxy cut under the client), close codes that do or do not reconnect, and
 * token expiry and refresh with `getToken`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ParleyClientError } from '../../packages/client/src/index.js';
import type { ClientState, GapEvent } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { startProxy, type TcpProxy } from '../helpers/proxy.js';
import { Inbox, closeAll, next, range, sdk, within } from './sdk-support.js';

let node: TestNode;
let proxy: TcpProxy;
beforeAll(async () => {
  node = await startNode();
  proxy = await startProxy(node.port);
});
afterEach(closeAll);
afterAll(async () => {
  await proxy.close();
  await node.close();
});

const disconnect = (user: string, body: unknown) => node.admin('POST', `/admin/users/${user}/disconnect`, body);

/** The states a client goes through from now on. */
function states(client: { on(t: 'state', l: (s: ClientState) => void): unknown }): ClientState[] {
  const seen: ClientState[] = [];
  client.on('state', (s) => seen.push(s));
  return seen;
}

describe('SDK reconnects', () => {
  it('after a network failure: resumes with since, nothing lost or doubled, queued send delivered', async () => {
    const room = 'rc-resume';
    const alice = sdk(proxy.wsUrl, { getToken: () => node.token('rc-alice') });
    const bob = sdk(node.wsUrl, { getToken: () => node.token('rc-bob') });
    const inbox = new Inbox(alice);
    const gaps: GapEvent[] = [];
    alice.on('gap', (g) => gaps.push(g));
    const bobPresence: string[] = [];
    bob.on('presence', (p) => bobPresence.push(`${p.user}:${p.status}`));
    await alice.join(room);
    await bob.join(room);
    for (const i of range(3)) await bob.send(room, `before ${i}`);
    await inbox.waitCount(room, 3);
    const firstSession = alice.session?.session;

    // The network goes down: the socket pair is cut and new connections hang until resume().
    proxy.pause();
    const reconnecting = next(alice, 'state', (s) => s === 'reconnecting');
    expect(proxy.dropAll()).toBe(1);
    await reconnecting;
    const queued = alice.send(room, 'written while offline');
    for (const i of range(5)) await bob.send(room, `missed ${i}`);
    const hello = next(alice, 'hello');
    proxy.resume();
    expect((await hello).session).not.toBe(firstSession);

    // 4..8 were never pushed to alice: only the rejoin with since=3 can have brought them.
    expect(await within(queued, 'the queued send')).toMatchObject({ room, seq: 9, dup: false });
    await inbox.waitCount(room, 9);
    await alice.ping();
    expect(inbox.seqs(room)).toEqual(range(9));
    expect(inbox.of(room).map((m) => m.body).slice(3)).toEqual([...range(5).map((i) => `missed ${i}`), 'written while offline']);
    expect(gaps).toEqual([]);
    expect(alice.position(room)?.seq).toBe(9);
    // A quick reconnect shows no presence flap to the others.
    await bob.ping();
    expect(bobPresence).toEqual([]);
  });

  it('a reconnectable admin close (4000): reconnects, rejoins, keeps the conversation going', async () => {
    const room = 'rc-4000';
    const c = sdk(node.wsUrl, { getToken: () => node.token('rc-4000') });
    const other = sdk(node.wsUrl, { getToken: () => node.token('rc-4000-other') });
    const inbox = new Inbox(c);
    await c.join(room);
    await other.join(room);
    const seen = states(c);
    const closed = next(c, 'close');
    const hello = next(c, 'hello');
    expect((await disconnect('rc-4000', { code: 4000, reason: 'maintenance' })).body).toEqual({ disconnected: 1 });
    expect(await closed).toEqual({ code: 4000, reason: 'maintenance', willReconnect: true });
    await hello;
    expect(seen).toEqual(['reconnecting', 'open']);
    await other.send(room, 'after the reconnect');
    expect((await inbox.waitCount(room, 1))[0]).toMatchObject({ seq: 1, body: 'after the reconnect' });
  });

  it('an admin close with 4003 stops for good: state closed, pending and later calls reject with closed', async () => {
    let tokens = 0;
    const c = sdk(node.wsUrl, { getToken: () => (tokens++, node.token('rc-4003')) });
    await c.join('rc-4003');
    const reconnects: unknown[] = [];
    c.on('reconnect', (e) => reconnects.push(e));
    const closed = next(c, 'close');
    const stopped = next(c, 'state', (s) => s === 'closed');
    expect((await disconnect('rc-4003', {})).body).toEqual({ disconnected: 1 });
    expect(await closed).toMatchObject({ code: 4003, willReconnect: false });
    await stopped;
    expect(c.state).toBe('closed');
    for (const call of [c.send('rc-4003', 'too late'), c.ping(), c.join('rc-4003')]) {
      const err = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ParleyClientError);
      expect((err as ParleyClientError).code).toBe('closed');
    }
    expect(reconnects).toEqual([]);
    expect(tokens).toBe(1);
    const presence = await node.admin('GET', '/admin/users/rc-4003/presence');
    expect(presence.body).toMatchObject({ online: false, devices: 0 });
  });

  it('token expiry (4001) with getToken: reconnects with a fresh token and rejoins', async () => {
    const room = 'rc-4001';
    let calls = 0;
    let expired = false;
    const long = await node.token('rc-exp', { ttlS: 3600 });
    const getToken = async (): Promise<string> => {
      calls++;
      if (calls === 1) return node.token('rc-exp', { ttlS: 2 });
      // The refresh before exp fails (the token service is down), so the server closes with 4001.
      if (!expired) throw new Error('token service unavailable');
      return long;
    };
    const c = sdk(node.wsUrl, { getToken });
    const inbox = new Inbox(c);
    c.on('close', (e) => {
      if (e.code === 4001) expired = true;
    });
    const firstHello = await next(c, 'hello');
    await c.join(room);
    const closed = next(c, 'close', undefined, 5000);
    const hello = next(c, 'hello', undefined, 8000);
    expect(await closed).toEqual({ code: 4001, reason: expect.any(String), willReconnect: true });
    const second = await hello;
    expect(second.exp).toBeGreaterThan(firstHello.exp + 3000);
    const writer = sdk(node.wsUrl, { getToken: () => node.token('rc-exp-writer') });
    await writer.join(room);
    await writer.send(room, 'still here?');
    expect((await inbox.waitCount(room, 1))[0]?.body).toBe('still here?');
  });

  it('a token refreshed before exp (auth with getToken) keeps the same connection past the first exp', async () => {
    const issued: number[] = [];
    let pastFirstExp: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (pastFirstExp = resolve));
    let firstExp = Infinity;
    const getToken = async (): Promise<string> => {
      if (Date.now() > firstExp * 1000 + 500) pastFirstExp();
      const token = await node.token('rc-refresh', { ttlS: 2 });
      issued.push(Date.now());
      return token;
    };
    const c = sdk(node.wsUrl, { getToken });
    const closes: unknown[] = [];
    c.on('close', (e) => closes.push(e));
    const hello = await next(c, 'hello');
    firstExp = hello.exp;
    await within(reached, 'a token refresh after the first exp', 8000);
    expect(await c.ping()).toEqual({});
    expect(c.session?.session).toBe(hello.session);
    expect(closes).toEqual([]);
    expect(issued.length).toBeGreaterThanOrEqual(3);
  });
});
