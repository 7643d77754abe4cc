import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient, type Frame } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/**
 * docs/protocol.md, "Limits and backpressure": slow readers. A client stops reading (its TCP socket
 * is paused); the kernel buffers on both sides fill first (net.ipv4.tcp_wmem lets the server's
 * grow to 4 MiB here), then the node's own unsent buffer grows: past SLOW_BYTES the node stops
 * typing/presence pushes, past 2 * SLOW_BYTES it closes with 4029. The node checks a connection
 * 100 ms after writes to it (and every 100 ms while it has a backlog), so the conflation test
 * uses a window (SLOW_BYTES of 1 MiB) wider than 100 ms of sends. The
 * loops send until the node's metrics report the state they wait for, bounded in count and time.
 */

const BODY = 'b'.repeat(4000);
const FAST = { RATE_PER_S: '100000', RATE_BURST: '100000' };

let node: TestNode | undefined;
afterEach(async () => {
  await node?.close();
  node = undefined;
});

/** A /ws client that can stop reading: frames stay in the kernel, then in the node's buffer. */
class SlowReader {
  readonly frames: Frame[] = [];
  readonly closed: Promise<number>;
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame);
      for (const l of this.listeners) l();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async joined(n: TestNode, user: string, room: string): Promise<SlowReader> {
    const reader = new SlowReader(new WebSocket(`${n.wsUrl}?token=${encodeURIComponent(await n.token(user))}`));
    await reader.until((f) => f.t === 'hello');
    reader.ws.send(JSON.stringify({ t: 'join', rid: 1, room }));
    expect(await reader.until((f) => f.t === 'reply')).toMatchObject({ ok: true });
    return reader;
  }

  private get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Resolves with the first frame (received so far or later) matching `pred`. */
  until(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.frames.find(pred);
        if (found) {
          this.listeners.delete(listener);
          clearTimeout(timer);
          resolve(found);
        }
        return found !== undefined;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no matching frame within ${timeoutMs} ms (last: ${JSON.stringify(this.frames.at(-1))})`));
      }, timeoutMs);
      this.listeners.add(listener);
      check();
    });
  }

  seqs(): number[] {
    return this.frames.filter((f) => f.t === 'msg').map((f) => f['seq'] as number);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** One sample of a Prometheus counter from the node's /metrics (0 when absent). */
async function metric(n: TestNode, series: string): Promise<number> {
  const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const closes = (code: number): string => `parley_closes_total{code="${code}"}`;
const DROPPED = 'parley_dropped_pushes_total';

function expectContiguous(seqs: number[], last: number): void {
  expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1));
}

/** Sends 4000-byte messages until the node has closed some connection, one way or the other; returns how many. */
async function floodUntilClosed(n: TestNode, fast: TestClient, room: string): Promise<number> {
  const [before4029, before1006] = [await metric(n, closes(4029)), await metric(n, closes(1006))];
  let sent = 0;
  const deadline = Date.now() + 30_000;
  while ((await metric(n, closes(4029))) === before4029 && (await metric(n, closes(1006))) === before1006) {
    if (sent >= 5000 || Date.now() > deadline) throw new Error(`slow connection still open after ${sent} messages`);
    for (let i = 0; i < 10; i++) await fast.send(room, `c${++sent}`, BODY);
  }
  // The node's own 4029, not uWS cutting the socket (1006) at its backpressure limit.
  expect(await metric(n, closes(4029))).toBe(before4029 + 1);
  expect(await metric(n, closes(1006))).toBe(before1006);
  return sent;
}

/** Nothing is lost: a join with `since` gets the messages after the last one received. */
async function expectRecovery(n: TestNode, user: string, room: string, received: number, sent: number): Promise<void> {
  const back = await TestClient.connect('ws', n, await n.token(user));
  const joined = await back.join(room, { since: received });
  expect(joined.recovered).toBe(true);
  expect(joined.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: sent - received }, (_, i) => received + i + 1));
  back.close();
}

describe('slow consumer past 2 * SLOW_BYTES', () => {
  it('ws: is closed with 4029 after everything buffered before the close, and resumes with since', async () => {
    node = await startNode({ ...FAST, SLOW_BYTES: '2048' });
    const n = node;
    const room = 'bp-close';
    const slow = await SlowReader.joined(n, 'bp-slow', room);
    const fast = await TestClient.connect('ws', n, await n.token('bp-fast'));
    await fast.join(room);
    slow.pause();
    const sent = await floodUntilClosed(n, fast, room);

    // Reading again: the messages buffered before the close, in order, then the close frame.
    slow.resume();
    expect(await slow.closed).toBe(4029);
    const seqs = slow.seqs();
    expect(seqs.length).toBeGreaterThan(0);
    expectContiguous(seqs, seqs.length);
    await expectRecovery(n, 'bp-slow', room, seqs.length, sent);
    fast.close();
  });

  it('sio: gets bye 4029 after everything buffered before it, and resumes with since', async () => {
    node = await startNode({ ...FAST, SLOW_BYTES: '2048' });
    const n = node;
    const room = 'bp-close-sio';
    const slow = await TestClient.connect('sio', n, await n.token('bps-slow'));
    await slow.join(room);
    const fast = await TestClient.connect('ws', n, await n.token('bps-fast'));
    await fast.join(room);
    // socket.io-client's websocket transport runs on the `ws` package: pause its TCP socket.
    const engine = slow.socket?.io.engine as unknown as { transport: { ws: { _socket: Socket } } };
    engine.transport.ws._socket.pause();
    const sent = await floodUntilClosed(n, fast, room);

    engine.transport.ws._socket.resume();
    expect(await slow.waitClosed(10_000)).toEqual({ code: 4029, reason: 'slow consumer' });
    const seqs = slow.received('msg').map((f) => f['seq'] as number);
    expect(seqs.length).toBeGreaterThan(0);
    expectContiguous(seqs, seqs.length);
    await expectRecovery(n, 'bps-slow', room, seqs.length, sent);
    fast.close();
  });
});

describe('ws: slow consumer between SLOW_BYTES and 2 * SLOW_BYTES', () => {
  it('stops typing and presence pushes but still delivers every msg in seq order', async () => {
    // A wide window, so that 100 ms of sends between two checks cannot jump across it.
    // No typing throttle: every `on` request is a push that the slow reader may miss.
    node = await startNode({ ...FAST, SLOW_BYTES: String(1024 * 1024), TYPING_TTL_S: '3600', TYPING_THROTTLE_MS: '0', PRESENCE_GRACE_S: '0' });
    const n = node;
    const room = 'bp-conflate';
    const slow = await SlowReader.joined(n, 'cf-slow', room);
    const fast = await TestClient.connect('ws', n, await n.token('cf-fast'));
    const typer = await TestClient.connect('ws', n, await n.token('cf-typer'));
    await fast.join(room);
    await typer.join(room);
    await slow.until((f) => f.t === 'presence' && f['user'] === 'cf-typer');
    slow.pause();

    // Send until a typing push is counted as dropped: the node has marked the reader slow.
    const dropped0 = await metric(n, DROPPED);
    const closed0 = await metric(n, closes(4029));
    let sent = 0;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (sent >= 5000 || Date.now() > deadline) throw new Error(`reader not marked slow after ${sent} messages`);
      await fast.send(room, `c${++sent}`, BODY);
      expect(await typer.request('typing', { room, on: true })).toMatchObject({ ok: true });
      if ((await metric(n, DROPPED)) > dropped0) break;
    }
    expect(await metric(n, closes(4029))).toBe(closed0);

    // While slow: typing and presence pushes to the reader are dropped and counted...
    const droppedSlow = await metric(n, DROPPED);
    expect(await typer.request('typing', { room, on: false })).toMatchObject({ ok: true });
    const late = await TestClient.connect('ws', n, await n.token('cf-late'));
    await late.join(room);
    await fast.waitFor('presence', (f) => f['user'] === 'cf-late' && f['status'] === 'online');
    expect(await metric(n, DROPPED)).toBeGreaterThanOrEqual(droppedSlow + 2);
    // ...while messages still go out.
    for (let i = 0; i < 5; i++) await fast.send(room, `late${i}`, `after ${i}`);
    const head = sent + 5;
    expect(await metric(n, closes(4029))).toBe(closed0);

    slow.resume();
    await slow.until((f) => f.t === 'msg' && f['seq'] === head);
    expectContiguous(slow.seqs(), head);
    expect(slow.frames.filter((f) => f.t === 'typing' && f['on'] === false)).toEqual([]);
    expect(slow.frames.filter((f) => f.t === 'presence' && f['user'] === 'cf-late')).toEqual([]);

    // Once it has caught up, the reader gets typing pushes again (the node notices on drain, or on its checks while the reader has a backlog).
    const caughtUp = slow.frames.length;
    const typingAgain = slow.until((f) => f.t === 'typing' && f['on'] === false && slow.frames.indexOf(f) >= caughtUp);
    for (let i = 0; i < 50 && slow.frames.slice(caughtUp).every((f) => f.t !== 'typing'); i++) {
      // An off is pushed only after an on was.
      await typer.request('typing', { room, on: true });
      await typer.request('typing', { room, on: false });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await typingAgain).toMatchObject({ user: 'cf-typer', on: false });
    expect(await metric(n, closes(4029))).toBe(closed0);
    slow.close();
    for (const c of [fast, typer, late]) c.close();
  });
});

describe('ws: replies the client asked for', () => {
  it('large history replies queued for a paused reader do not close it as a slow consumer', async () => {
    // Replies of up to 1 MiB may be unread 8 times over: more than the kernel buffers hold here.
    node = await startNode({ ...FAST, SLOW_BYTES: String(64 * 1024), RECOVERY_MAX_BYTES: String(1024 * 1024) });
    const n = node;
    const room = 'bp-replies';
    const writer = await TestClient.connect('ws', n, await n.token('rp-writer'));
    await writer.join(room);
    for (let i = 1; i <= 100; i++) await writer.send(room, `c${i}`, BODY);
    const reader = await SlowReader.joined(n, 'rp-reader', room);
    reader.pause();
    // 24 pages of about 400 KB: more than the kernel buffers hold, and 2 * SLOW_BYTES is 128 KiB.
    const pages = 24;
    for (let i = 0; i < pages; i++) (reader as unknown as { ws: WebSocket }).ws.send(JSON.stringify({ t: 'history', rid: 100 + i, room, limit: 100 }));
    // Let the node queue them and check the reader several times.
    await writer.request('ping');
    await new Promise((resolve) => setTimeout(resolve, 500));
    reader.resume();
    for (let i = 0; i < pages; i++) await reader.until((f) => f.t === 'reply' && f['rid'] === 100 + i, 20_000);
    expect(await metric(n, closes(4029))).toBe(0);
    expect(reader.frames.filter((f) => f.t === 'reply' && f['ok'] !== true)).toEqual([]);
    reader.close();
    writer.close();
  }, 60_000);
});
