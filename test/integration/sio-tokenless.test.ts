import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ENGINE_CLOSE_GRACE_MS } from '../../src/gateway/engine-close.js';
import { SIO_CONNECT_WINDOW_MS } from '../../src/gateway/sio-handshakes.js';
import { until as poll, within } from '../cluster/support.js';
import { nodeFor } from '../helpers/fixtures.js';
import { connectPacket, eioAlive, eioHandshake, eioRequest, eioWebSocket } from './eio-support.js';
import { until } from './http-support.js';

/** docs/protocol.md: no transport keeps a client without a valid token. */

const CLOSED_AFTER_REFUSAL_MS = ENGINE_CLOSE_GRACE_MS + 2_000;

const current = nodeFor();

const gone = (sid: string, ms: number) => poll(async () => !(await eioAlive(current(), sid)), `session ${sid} is gone`, ms);

describe('a CONNECT without a valid token', () => {
  it.each([
    ['no auth', undefined],
    ['a bad token', { token: 'not-a-jwt' }],
  ])('with %s: connect_error "unauthorized", then the engine.io session is closed at once', async (_label, auth) => {
    const node = current();
    const sid = await eioHandshake(node);
    expect(await eioAlive(node, sid)).toBe(true);
    expect((await eioRequest(node, 'POST', sid, connectPacket(auth))).status).toBe(200);
    const poll = await eioRequest(node, 'GET', sid);
    expect(poll.text).toContain('44{"message":"unauthorized"}');
    await gone(sid, CLOSED_AFTER_REFUSAL_MS);
    expect((await eioRequest(node, 'GET', sid)).status).toBe(400);
  });

  it('closes the session even when the client never polls for the connect_error', async () => {
    const node = current();
    const sid = await eioHandshake(node);
    expect((await eioRequest(node, 'POST', sid, connectPacket())).status).toBe(200);
    await gone(sid, CLOSED_AFTER_REFUSAL_MS);
  });

  it('over the websocket transport: connect_error, then the server closes the WebSocket', async () => {
    const node = current();
    const ws = await eioWebSocket(node);
    if (!(ws instanceof WebSocket)) throw new Error(`refused: ${ws.status}`);
    const frames: string[] = [];
    ws.on('message', (d: Buffer) => frames.push(d.toString('utf8')));
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.send(connectPacket({ token: 'not-a-jwt' }));
    await within(closed, 'the server closing the WebSocket', CLOSED_AFTER_REFUSAL_MS);
    expect(frames).toContain('44{"message":"unauthorized"}');
  });
});

describe('an engine.io session that sends no CONNECT', () => {
  it('is closed within 10 s, over long-polling and over WebSocket; an admitted one stays', { timeout: SIO_CONNECT_WINDOW_MS + 15_000 }, async () => {
    const node = current();
    const started = Date.now();
    const sid = await eioHandshake(node);
    const ws = await eioWebSocket(node);
    if (!(ws instanceof WebSocket)) throw new Error(`refused: ${ws.status}`);
    const wsClosed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now() - started)));
    const admitted = await eioHandshake(node);
    await eioRequest(node, 'POST', admitted, connectPacket({ token: await node.token('tokenless-admitted') }));
    expect((await eioRequest(node, 'GET', admitted)).text).toMatch(/^40\{"sid":/);

    expect(await eioAlive(node, sid)).toBe(true);
    await gone(sid, SIO_CONNECT_WINDOW_MS + CLOSED_AFTER_REFUSAL_MS);
    const pollingClosedAfter = Date.now() - started;
    const wsClosedAfter = await within(wsClosed, 'the WebSocket closed', CLOSED_AFTER_REFUSAL_MS);
    // Not before the window: a slow client still gets its 10 s.
    expect(pollingClosedAfter).toBeGreaterThanOrEqual(SIO_CONNECT_WINDOW_MS - 500);
    expect(wsClosedAfter).toBeGreaterThanOrEqual(SIO_CONNECT_WINDOW_MS - 500);
    // The admitted session opened with them, past the window plus the grace, is still there.
    expect(await eioAlive(node, admitted)).toBe(true);
    await eioRequest(node, 'POST', admitted, '1');
  });
});

describe('MAX_TOKENLESS_PER_ADDRESS', () => {
  const limitedNode = nodeFor({ MAX_TOKENLESS_PER_ADDRESS: '3' });

  it('refuses handshakes past the limit with 429 until a session presents a token or closes', async () => {
    const limited = limitedNode();
    const sids = [await eioHandshake(limited), await eioHandshake(limited), await eioHandshake(limited)];
    const refused = await eioRequest(limited, 'GET');
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text)).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    expect(await eioWebSocket(limited)).toEqual({ status: 429 });

    // A session that presents a valid token no longer counts.
    const [first, second] = sids as [string, string, string];
    await eioRequest(limited, 'POST', first, connectPacket({ token: await limited.token('tokenless-limit') }));
    const admitted = await until('a handshake allowed again', async () => {
      const answer = await eioRequest(limited, 'GET');
      return answer.status === 200 ? answer : undefined;
    });
    expect(admitted.text).toMatch(/^0\{"sid":/);
    expect((await eioRequest(limited, 'GET')).status).toBe(429);

    // Nor does one that is gone.
    await eioRequest(limited, 'POST', second, '1');
    const ws = await until('a WebSocket handshake allowed again', async () => {
      const answer = await eioWebSocket(limited);
      return answer instanceof WebSocket ? answer : undefined;
    });
    ws.close();
  });
});
