import { RawWs } from './raw-ws.js';

/** `ws`: Parley's JSON frames on /ws (the raw uWS bench server speaks them too); `sio`: Socket.IO v4 over a WebSocket. */
export type Kind = 'ws' | 'sio';

export interface Reply {
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
}

export interface ClientOptions {
  kind: Kind;
  port: number;
  token: string;
  localAddress?: string;
  /** /ws only: ask for batched frames (`?batch=1`). */
  batch?: boolean;
  timeoutMs: number;
  /** Latency samples: called with receive time minus the send time found in the body. */
  onLatency?: (ms: number) => void;
  onClose?: (code: number) => void;
}

const MSG_PREFIX: Record<Kind, Buffer> = { ws: Buffer.from('{"t":"msg"'), sio: Buffer.from('42["msg"') };
const BODY_MARK = Buffer.from('"body":"');

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * One load-generator connection speaking Parley's protocol (PROTOCOL.md) over either transport:
 * requests with replies, `msg` pushes counted by prefix. Ready once the server said hello
 * (/ws) or accepted the Socket.IO connect.
 */
export class BenchClient {
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private nextId = 1;
  private ws!: RawWs;

  private constructor(
    readonly kind: Kind,
    private readonly token: string,
  ) {}

  get counted(): number {
    return this.ws.counted;
  }

  get open(): boolean {
    return this.ws.open;
  }

  static async connect(opts: ClientOptions): Promise<BenchClient> {
    const client = new BenchClient(opts.kind, opts.token);
    let ready!: (ok: boolean, why?: string) => void;
    const readyP = new Promise<void>((resolve, reject) => {
      ready = (ok, why) => (ok ? resolve() : reject(new Error(why ?? 'refused')));
    });
    const onLatency = opts.onLatency;
    const path = opts.kind === 'ws' ? `/ws?token=${encodeURIComponent(opts.token)}${opts.batch ? '&batch=1' : ''}` : '/socket.io/?EIO=4&transport=websocket';
    const ws = await RawWs.connect({
      port: opts.port,
      path,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      countPrefix: MSG_PREFIX[opts.kind],
      ...(onLatency ? { onCounted: (buf: Buffer, s: number, e: number) => sampleLatency(buf, s, e, onLatency) } : {}),
      onText: (text, ws) => client.onText(text, ws, ready),
      onClose: (code) => {
        ready(false, `closed with ${code} before ready`);
        opts.onClose?.(code);
      },
      timeoutMs: opts.timeoutMs,
    });
    client.ws = ws;
    const timer = setTimeout(() => ready(false, `not ready within ${opts.timeoutMs} ms`), opts.timeoutMs);
    try {
      await readyP;
    } catch (err) {
      ws.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  /** Sends a request; the promise settles with its reply (bound the wait with `withTimeout`). */
  request(t: string, payload: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      if (this.kind === 'ws') this.ws.sendText(JSON.stringify({ t, rid: id, ...payload }));
      else this.ws.sendText(`42${id}${JSON.stringify([t, payload])}`);
    });
  }

  /** Sends a request whose reply only calls `onReply` (no promise): the publisher's hot path. */
  send(room: string, cid: string, body: string, onReply: (reply: Reply) => void): void {
    const id = this.nextId++;
    this.pending.set(id, onReply);
    const payload = `"room":${JSON.stringify(room)},"cid":"${cid}","body":${JSON.stringify(body)}}`;
    if (this.kind === 'ws') this.ws.sendText(`{"t":"send","rid":${id},${payload}`);
    else this.ws.sendText(`42${id}["send",{${payload}]`);
  }

  close(): void {
    this.ws.close();
  }

  private onText(text: string, ws: RawWs, ready: (ok: boolean, why?: string) => void): void {
    if (this.kind === 'ws') {
      if (text.startsWith('{"t":"reply"')) {
        const reply = JSON.parse(text) as Reply & { rid: number };
        this.settle(reply.rid, reply);
      } else if (text.startsWith('{"t":"hello"')) ready(true);
      return;
    }
    // Engine.IO packet type, then Socket.IO packet type (PROTOCOL.md maps requests to acks).
    if (text.startsWith('43')) {
      const at = text.indexOf('[');
      const args = JSON.parse(text.slice(at)) as Reply[];
      this.settle(Number(text.slice(2, at)), args[0] ?? { ok: false });
    } else if (text === '2') ws.sendText('3');
    else if (text.startsWith('40')) ready(true);
    else if (text.startsWith('44')) ready(false, `connect_error ${text.slice(2)}`);
    else if (text.startsWith('0')) ws.sendText(`40${JSON.stringify({ token: this.token })}`);
  }

  private settle(id: number, reply: Reply): void {
    const done = this.pending.get(id);
    if (!done) return;
    this.pending.delete(id);
    done(reply);
  }
}

/** The publisher puts its send time first in the body: `<ms with 3 decimals>|padding`. */
function sampleLatency(buf: Buffer, start: number, end: number, onLatency: (ms: number) => void): void {
  const at = buf.indexOf(BODY_MARK, start);
  if (at < 0 || at >= end) return;
  const from = at + BODY_MARK.length;
  const bar = buf.indexOf(0x7c, from);
  if (bar < 0 || bar >= end) return;
  const sent = Number(buf.toString('latin1', from, bar));
  if (Number.isFinite(sent)) onLatency(nowMs() - sent);
}

/** Rejects when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
