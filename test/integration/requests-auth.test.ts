import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/gateway/auth.js';
import { KINDS, TestClient, type Kind, type Reply } from '../helpers/clients.js';
import { startNode, TEST_SECRET, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, in-band `auth` (token refresh and expiry), `ping`, and one reply per `rid`. */

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

const open: TestClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function connect(kind: Kind, token: string): Promise<TestClient> {
  const c = await TestClient.connect(kind, node, token);
  open.push(c);
  return c;
}

function expOf(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number }).exp;
}

/** Milliseconds until a token's exp has passed, plus a margin for the close to arrive. */
function untilAfterExp(token: string, marginMs = 3000): number {
  return Math.max(0, expOf(token) * 1000 - Date.now()) + marginMs;
}

describe.each(KINDS)('%s: auth', (kind) => {
  it('accepts a new token for the same user and answers its exp', async () => {
    const user = `ar-${kind}`;
    const c = await connect(kind, await node.token(user, { ttlS: 600 }));
    const fresh = await node.token(user, { ttlS: 7200 });
    expect(expOf(fresh)).toBeGreaterThan(c.hello['exp'] as number);
    expect(await c.request('auth', { token: fresh })).toMatchObject({ ok: true, data: { exp: expOf(fresh) } });
  });

  it('refuses a token for another user with unauthorized and keeps the connection as it was', async () => {
    const user = `ao-${kind}`;
    const room = `auth-other-${kind}`;
    const c = await connect(kind, await node.token(user));
    const r = await c.request('auth', { token: await node.token(`ao-someone-else-${kind}`) });
    expect(r).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    await c.join(room);
    await c.send(room, 'c1', 'still me');
    expect(await c.waitFor('msg')).toMatchObject({ from: user });
  });

  it('refuses invalid tokens with unauthorized', async () => {
    const user = `ai-${kind}`;
    const c = await connect(kind, await node.token(user));
    const otherSecret = new TextEncoder().encode('another-secret-that-is-at-least-32-bytes!');
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      'not-a-jwt',
      'a.b.c',
      (await mintToken(otherSecret, { user, ttlS: 600 })).token,
      await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setIssuedAt(now - 120).setExpirationTime(now - 60).sign(new TextEncoder().encode(TEST_SECRET)),
    ];
    for (const token of bad) {
      expect(await c.request('auth', { token }), token.slice(0, 20)).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    }
    await c.barrier();
  });

  it('closes the connection with 4001 when exp passes without a refresh', async () => {
    const token = await node.token(`ae-${kind}`, { ttlS: 2 });
    const c = await connect(kind, token);
    expect(c.hello['exp']).toBe(expOf(token));
    await c.barrier();
    expect((await c.waitClosed(untilAfterExp(token))).code).toBe(4001);
  });

  it('keeps a connection refreshed before exp open past that exp', async () => {
    const user = `ak-${kind}`;
    const token = await node.token(user, { ttlS: 2 });
    const refreshed = await connect(kind, token);
    // Same token, never refreshed: its 4001 tells that the first exp has passed.
    const control = await connect(kind, token);
    expect(await refreshed.request('auth', { token: await node.token(user, { ttlS: 3600 }) })).toMatchObject({ ok: true });
    let refreshedClosed = false;
    void refreshed.closed.then(() => (refreshedClosed = true));
    expect((await control.waitClosed(untilAfterExp(token))).code).toBe(4001);
    // A ping answered after the first exp: the refreshed connection is still open.
    await refreshed.barrier();
    expect(refreshedClosed).toBe(false);
    expect(refreshed.received('bye')).toEqual([]);
  });

  it('moves the expiry to the exp of the refreshing token', async () => {
    const user = `as-${kind}`;
    const c = await connect(kind, await node.token(user, { ttlS: 3600 }));
    const short = await node.token(user, { ttlS: 1 });
    expect(await c.request('auth', { token: short })).toMatchObject({ ok: true, data: { exp: expOf(short) } });
    expect((await c.waitClosed(untilAfterExp(short))).code).toBe(4001);
  });

  it("applies the refreshing token's rooms claim", async () => {
    const user = `aa-${kind}`;
    const c = await connect(kind, await node.token(user, { rooms: ['*'] }));
    await c.request('auth', { token: await node.token(user, { rooms: [`only-${kind}-*`] }) });
    expect(await c.request('join', { room: `elsewhere-${kind}` })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await c.request('join', { room: `only-${kind}-1` })).toMatchObject({ ok: true });
  });
});

describe.each(KINDS)('%s: ping and rid', (kind) => {
  it('answers ping with {}', async () => {
    const c = await connect(kind, await node.token(`pg-${kind}`));
    expect(await c.request('ping')).toEqual(kind === 'ws' ? { t: 'reply', rid: 1, ok: true, data: {} } : { ok: true, data: {} });
  });

  const requests: [string, Record<string, unknown>, boolean][] = [
    ['ping', {}, true],
    ['join', { room: 'rid-room' }, true],
    ['join', { room: 'bad room' }, false],
    ['send', { room: 'rid-not-joined', cid: 'c1', body: 'x' }, false],
    ['nonsense', {}, false],
    ['history', { room: 'rid-room', limit: 0 }, false],
    ['leave', { room: 'rid-room' }, true],
  ];

  it('gives every request with a rid exactly one reply, ok or not', async () => {
    const c = await connect(kind, await node.token(`rd-${kind}`));
    if (kind === 'ws') {
      // Integer and string rids, including the longest string (64 chars), 0 and a negative integer.
      const rids: (number | string)[] = ['alpha', 900_001, 'beta-2', 0, -5, 'x'.repeat(64), 'omega'];
      requests.forEach(([t, payload], i) => c.sendText(JSON.stringify({ t, rid: rids[i], ...payload })));
      for (const [i, [, , ok]] of requests.entries()) {
        const reply = await c.waitFor('reply', (f) => f['rid'] === rids[i]);
        expect(reply['ok'], `rid ${String(rids[i])}`).toBe(ok);
      }
      await c.barrier();
      for (const rid of rids) expect(c.received('reply', (f) => f['rid'] === rid), `rid ${String(rid)}`).toHaveLength(1);
      expect(c.received('error')).toEqual([]);
    } else {
      const socket = c.socket!;
      const acks = requests.map(() => [] as Reply[]);
      const firstAcks = requests.map(
        ([t, payload], i) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ack for ${t} #${i}`)), 5000);
            socket.emit(t, payload, (r: Reply) => {
              acks[i]!.push(r);
              clearTimeout(timer);
              resolve();
            });
          }),
      );
      await Promise.all(firstAcks);
      await c.barrier();
      requests.forEach(([t, , ok], i) => {
        expect(acks[i], `${t} #${i}`).toHaveLength(1);
        expect(acks[i]![0]!.ok, `${t} #${i}`).toBe(ok);
      });
      expect(c.received('error')).toEqual([]);
    }
  });
});
