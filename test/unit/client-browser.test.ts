/**
 * The SDK over a browser-like WebSocket stub: no network, so fake timers keep it deterministic.
 * Browsers report a refused upgrade as a bare error event then close 1006, without the status.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../../packages/client/src/index.js';
import type { ParleyClient, WebSocketLike } from '../../packages/client/src/index.js';

/** Every socket fails before opening, the way a browser shows a 401 or a network error. */
class FailingBrowserSocket implements WebSocketLike {
  static urls: string[] = [];
  readyState = 0;
  onopen: ((event: never) => unknown) | null = null;
  onmessage: ((event: never) => unknown) | null = null;
  onerror: ((event: { type: string }) => unknown) | null = null;
  onclose: ((event: { code: number; reason: string }) => unknown) | null = null;

  constructor(url: string) {
    FailingBrowserSocket.urls.push(url);
    setTimeout(() => this.#fail(), 10);
  }
  send(): void {}
  close(): void {
    setTimeout(() => this.#fail(), 0);
  }
  #fail(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onerror?.({ type: 'error' });
    this.onclose?.({ code: 1006, reason: '' });
  }
}

const tokens = () => FailingBrowserSocket.urls.map((u) => new URL(u).searchParams.get('token'));
let client: ParleyClient | undefined;

beforeEach(() => {
  vi.useFakeTimers();
  FailingBrowserSocket.urls = [];
});

afterEach(async () => {
  const closing = client?.close();
  client = undefined;
  await vi.runOnlyPendingTimersAsync();
  await closing;
  vi.useRealTimers();
});

describe('ParleyClient over a browser WebSocket', () => {
  it('with getToken, fetches a fresh token after an unexplained failure before open, and backs off', async () => {
    let n = 0;
    const delays: number[] = [];
    client = connect('wss://chat.example', { getToken: () => Promise.resolve(`tok${++n}`) }, { WebSocket: FailingBrowserSocket, random: () => 0.5 });
    client.on('reconnect', (e) => delays.push(e.delay));
    await vi.advanceTimersByTimeAsync(10 + 250 + 10 + 500 + 10);
    expect(tokens()).toEqual(['tok1', 'tok2', 'tok3']);
    expect(FailingBrowserSocket.urls[0]).toBe('wss://chat.example/ws?token=tok1&batch=1');
    expect(delays).toEqual([250, 500, 1000]);
    expect(client.state).toBe('connecting');
  });

  it('with a static token, keeps retrying with it (a network failure looks the same)', async () => {
    client = connect('wss://chat.example', { token: 'static' }, { WebSocket: FailingBrowserSocket, random: () => 0 });
    await vi.advanceTimersByTimeAsync(100);
    expect(tokens().length).toBeGreaterThan(3);
    expect(new Set(tokens())).toEqual(new Set(['static']));
    expect(client.state).toBe('connecting');
  });

  it('fails fast without a WebSocket implementation', () => {
    const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
    vi.stubGlobal('WebSocket', undefined);
    try {
      expect(() => connect('wss://chat.example', { token: 't' })).toThrow(/options\.WebSocket/);
    } finally {
      vi.stubGlobal('WebSocket', saved);
    }
  });
});
