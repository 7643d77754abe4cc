/**
 * An SDK client whose token the server refuses at the upgrade (HTTP 401, no WebSocket opened)
 * reports `unauthorized`, with the `ws` package (which names the status) and over a WebSocket
 * that hides it as browsers do (the SDK then asks GET /ws).
 */
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ParleyClient, WebSocketLike } from '../../packages/client/src/index.js';
import { ParleyClientError } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { closeAll, next, sdk, within } from './sdk-support.js';

let node: TestNode;

beforeAll(async () => {
  node = await startNode({ MAX_CONNS_PER_USER: '1' });
});
afterEach(closeAll);
afterAll(async () => {
  await node.close();
});

/** The `ws` package behind the browser's face: an error event with no message, then close 1006. */
class BrowserLikeSocket implements WebSocketLike {
  readonly #ws: WebSocket;
  onopen: ((event: never) => unknown) | null = null;
  onmessage: ((event: never) => unknown) | null = null;
  onerror: ((event: never) => unknown) | null = null;
  onclose: ((event: never) => unknown) | null = null;

  constructor(url: string) {
    this.#ws = new WebSocket(url);
    this.#ws.onopen = () => (this.onopen as ((e: object) => void) | null)?.({});
    this.#ws.onmessage = (e) => (this.onmessage as ((e: { data: unknown }) => void) | null)?.({ data: e.data });
    this.#ws.onerror = () => (this.onerror as ((e: object) => void) | null)?.({ type: 'error' });
    this.#ws.onclose = (e) => (this.onclose as ((e: { code: number; reason: string }) => void) | null)?.({ code: e.code, reason: e.reason });
  }
  get readyState(): number {
    return this.#ws.readyState;
  }
  send(data: string): void {
    this.#ws.send(data);
  }
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
}

async function expectUnauthorized(client: ParleyClient): Promise<void> {
  const closed = next(client, 'close');
  const stopped = next(client, 'state', (s) => s === 'closed');
  const joined = client.join('unauth-room').then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(await closed).toEqual({ code: 4001, reason: 'unauthorized', willReconnect: false });
  await stopped;
  const err = await within(joined, 'the join to fail');
  expect(err).toBeInstanceOf(ParleyClientError);
  expect(err).toMatchObject({ code: 'unauthorized', closeCode: 4001, retryable: false });
  // Later calls fail the same way, not with a bare "closed".
  await expect(client.history('unauth-room')).rejects.toMatchObject({ code: 'unauthorized' });
}

describe('SDK with a token the server refuses', () => {
  it('over `ws` (the status is visible): unauthorized, close 4001, no reconnect', async () => {
    await expectUnauthorized(sdk(node.wsUrl, { token: `${await node.token('unauth-a')}x` }));
  });

  it('over a WebSocket that hides the status: asks GET /ws and reports unauthorized', async () => {
    await expectUnauthorized(sdk(node.wsUrl, { token: 'not-a-jwt' }, { WebSocket: BrowserLikeSocket, fetch: (url, init) => fetch(url, init) }));
  });

  it('over a WebSocket that hides the status, a good token connects as usual', async () => {
    const client = sdk(node.wsUrl, { token: await node.token('unauth-good') }, { WebSocket: BrowserLikeSocket, fetch: (url, init) => fetch(url, init) });
    expect((await client.join('unauth-ok')).room).toBe('unauth-ok');
  });
});

describe('GET /ws without an upgrade', () => {
  it('answers 401 for a missing or bad token and 426 for a good one, without taking a connection slot', async () => {
    const base = node.wsUrl.replace(/^ws/, 'http');
    expect((await fetch(base)).status).toBe(401);
    expect(await (await fetch(`${base}?token=bad`)).json()).toEqual({ error: { code: 'unauthorized', message: 'unauthorized' } });
    const token = await node.token('unauth-slot');
    for (let i = 0; i < 3; i++) {
      const answer = await fetch(base, { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(426);
    }
    // MAX_CONNS_PER_USER is 1: the checks above took no slot.
    const client = sdk(node.wsUrl, { token });
    expect((await client.join('unauth-slot-room')).room).toBe('unauth-slot-room');
  });
});
