import { io as sioConnect, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import type { TestNode } from './node.js';

export type Kind = 'ws' | 'sio';
export const KINDS: Kind[] = ['ws', 'sio'];

export interface Frame {
  t: string;
  [field: string]: unknown;
}

export interface Reply {
  ok: boolean;
  data?: any;
  /** `code`, `message`, and what some codes carry (`retryAfterMs`, `until`, `reason`). */
  error?: { code: string; message: string; [field: string]: unknown };
}

export interface Closed {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  origin?: string;
  /** /ws only: send the token as a header instead of ?token=. */
  header?: boolean;
  /** An X-Forwarded-For header, as a proxy in front of the node would send it. */
  forwardedFor?: string;
  /** /ws: a refusal carries the `error.code` of its body too (see `refusal`). */
  withCode?: boolean;
}

/** Why a connection was refused, with the error code of the body (/ws) or the connect_error message (Socket.IO). */
export type CodedRefusal = { status: number; code: string } | { message: string };

/** Why a connection was refused: the HTTP status on /ws, the connect_error message on Socket.IO. */
export type Refusal = { status: number } | { message: string };

const DEFAULT_WAIT_MS = 5000;

/**
 * One client of either transport with the same API, so every protocol test runs on both.
 * Pushes are recorded; `waitFor` consumes the first unconsumed match or waits for one.
 */
export class TestClient {
  readonly pushes: Frame[] = [];
  hello!: Frame;
  readonly closed: Promise<Closed>;
  private readonly consumed = new Set<Frame>();
  private readonly waiters = new Set<{ t: string; pred: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
  private rid = 0;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private settleClosed!: (c: Closed) => void;
  private bye: Closed | undefined;

  private constructor(
    readonly kind: Kind,
    private readonly ws: WebSocket | undefined,
    readonly socket: Socket | undefined,
  ) {
    this.closed = new Promise((resolve) => (this.settleClosed = resolve));
  }

  static async connect(kind: Kind, node: TestNode, token: string, opts: ConnectOptions = {}): Promise<TestClient> {
    const result = await TestClient.attempt(kind, node, token, opts);
    if (!(result instanceof TestClient)) throw new Error(`connection refused: ${JSON.stringify(result)}`);
    return result;
  }

  /** Connects, or tells how the server refused, with the error code (/ws: of the body). */
  static async refusal(kind: Kind, node: TestNode, token: string | undefined, opts: ConnectOptions = {}): Promise<CodedRefusal | TestClient> {
    return TestClient.attempt(kind, node, token, { ...opts, withCode: true }) as Promise<CodedRefusal | TestClient>;
  }

  /** Connects, or tells how the server refused. */
  static attempt(kind: Kind, node: TestNode, token: string | undefined, opts: ConnectOptions = {}): Promise<TestClient | Refusal> {
    return kind === 'ws' ? TestClient.attemptWs(node, token, opts) : TestClient.attemptSio(node, token, opts);
  }

  private static attemptWs(node: TestNode, token: string | undefined, opts: ConnectOptions): Promise<TestClient | Refusal> {
    const url = token && !opts.header ? `${node.wsUrl}?token=${encodeURIComponent(token)}` : node.wsUrl;
    const headers: Record<string, string> = {};
    if (token && opts.header) headers['authorization'] = `Bearer ${token}`;
    if (opts.origin) headers['origin'] = opts.origin;
    if (opts.forwardedFor) headers['x-forwarded-for'] = opts.forwardedFor;
    const ws = new WebSocket(url, { headers });
    const client = new TestClient('ws', ws, undefined);
    return new Promise((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let code: unknown;
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: unknown } }).error?.code;
          } catch {
            code = undefined;
          }
          resolve({ status: res.statusCode ?? 0, ...(opts.withCode && typeof code === 'string' ? { code } : {}) });
        });
      });
      ws.on('error', (err) => reject(err));
      ws.on('close', (code, reason) => client.settleClosed({ code, reason: reason.toString() }));
      ws.on('message', (data) => {
        const frame = JSON.parse((data as Buffer).toString("utf8")) as Frame & { rid?: number };
        if (frame.t === 'reply' && typeof frame.rid === 'number' && client.pending.has(frame.rid)) {
          const done = client.pending.get(frame.rid);
          client.pending.delete(frame.rid);
          done?.(frame as unknown as Reply);
          return;
        }
        if (frame.t === 'hello') {
          client.hello = frame;
          resolve(client);
        }
        client.record(frame);
      });
    });
  }

  private static attemptSio(node: TestNode, token: string | undefined, opts: ConnectOptions): Promise<TestClient | Refusal> {
    const socket = sioConnect(node.httpUrl, {
      transports: ['websocket'],
      reconnection: false,
      auth: token ? { token } : {},
      extraHeaders: { ...(opts.origin ? { origin: opts.origin } : {}), ...(opts.forwardedFor ? { 'x-forwarded-for': opts.forwardedFor } : {}) },
    });
    const client = new TestClient('sio', undefined, socket);
    return new Promise((resolve) => {
      socket.on('connect_error', (err) => resolve({ message: err.message }));
      socket.onAny((event: string, payload: unknown) => {
        const frame = { ...(payload as object), t: event } as Frame;
        if (event === 'bye') client.bye = { code: frame['code'] as number, reason: frame['reason'] as string };
        if (event === 'hello') {
          client.hello = frame;
          resolve(client);
        }
        client.record(frame);
      });
      socket.on('disconnect', (reason) => client.settleClosed(client.bye ?? { code: reason === 'io client disconnect' ? 1000 : 1006, reason }));
    });
  }

  /** A request as docs/protocol.md defines it: `{t, rid, ...}` on /ws, `emit(t, payload, ack)` on Socket.IO. */
  request(t: string, payload: Record<string, unknown> = {}, timeoutMs = DEFAULT_WAIT_MS): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${t} within ${timeoutMs} ms`)), timeoutMs);
      const done = (r: Reply) => {
        clearTimeout(timer);
        resolve(r);
      };
      if (this.ws) {
        const rid = ++this.rid;
        this.pending.set(rid, done);
        this.ws.send(JSON.stringify({ t, rid, ...payload }));
      } else {
        this.socket?.emit(t, payload, done);
      }
    });
  }

  /** Sends a frame without a rid (no reply expected; errors come as `error` pushes). */
  fire(t: string, payload: Record<string, unknown> = {}): void {
    if (this.ws) this.ws.send(JSON.stringify({ t, ...payload }));
    else this.socket?.emit(t, payload);
  }

  /** /ws only: sends raw text. */
  sendText(text: string): void {
    if (!this.ws) throw new Error('sendText is for /ws clients');
    this.ws.send(text);
  }

  waitFor(t: string, pred: (f: Frame) => boolean = () => true, timeoutMs = DEFAULT_WAIT_MS): Promise<Frame> {
    const found = this.pushes.find((f) => f.t === t && !this.consumed.has(f) && pred(f));
    if (found) {
      this.consumed.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        t,
        pred,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${t} push within ${timeoutMs} ms (got: ${JSON.stringify(this.pushes.slice(-5))})`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Unconsumed pushes of type `t` received so far. */
  received(t: string, pred: (f: Frame) => boolean = () => true): Frame[] {
    return this.pushes.filter((f) => f.t === t && pred(f));
  }

  /** A round trip: every push the server sent before answering it has arrived. */
  async barrier(): Promise<void> {
    const r = await this.request('ping');
    if (!r.ok) throw new Error(`ping failed: ${JSON.stringify(r.error)}`);
  }

  /** Joins and fails the test on an error reply. */
  async join(room: string, extra: Record<string, unknown> = {}): Promise<Reply['data']> {
    const r = await this.request('join', { room, ...extra });
    if (!r.ok) throw new Error(`join ${room} failed: ${JSON.stringify(r.error)}`);
    return r.data;
  }

  async send(room: string, cid: string, body: string): Promise<Reply['data']> {
    const r = await this.request('send', { room, cid, body });
    if (!r.ok) throw new Error(`send failed: ${JSON.stringify(r.error)}`);
    return r.data;
  }

  waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<Closed> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  close(): void {
    if (this.ws) this.ws.close(1000);
    else this.socket?.disconnect();
  }

  /** Drops the TCP connection without a close handshake. */
  kill(): void {
    if (this.ws) this.ws.terminate();
    else (this.socket?.io.engine as unknown as { transport?: { ws?: { terminate?: () => void } } } | undefined)?.transport?.ws?.terminate?.();
  }

  private record(frame: Frame): void {
    this.pushes.push(frame);
    for (const w of this.waiters) {
      if (w.t === frame.t && w.pred(frame)) {
        this.waiters.delete(w);
        this.consumed.add(frame);
        w.resolve(frame);
        return;
      }
    }
  }
}
