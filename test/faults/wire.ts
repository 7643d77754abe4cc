// One raw `/ws` connection of the recording client: the hello, requests with a rid and a
// deadline, pushes, and the close. Deliberately not the SDK: the suite checks the server's
// wire behaviour, and a client library's own recovery would hide what the server did.
import WebSocket from 'ws';
import type { Outcome } from './history.js';

export interface Hello {
  session: string;
  user: string;
  node: string;
  exp: number;
}

export type Push = { t: string; [field: string]: unknown };

export interface WireHandlers {
  /** Every frame that is not a reply, in arrival order (the hello included). */
  push(frame: Push): void;
  /** Once, when the socket closed (1006 when it dropped without a close frame). */
  closed(code: number): void;
}

/** A connection that answered with a hello; `open` resolves undefined when it did not. */
export class Wire {
  private rid = 0;
  private readonly pending = new Map<number, (o: Outcome<unknown>) => void>();
  private isClosed = false;

  private constructor(
    private readonly ws: WebSocket,
    private readonly handlers: WireHandlers,
  ) {}

  /** Connects with `token`; resolves with the wire and its hello, or a reason it did not open. */
  static open(url: string, token: string, handlers: WireHandlers, deadlineMs: number): Promise<{ wire: Wire; hello: Hello } | { refused: string }> {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, { handshakeTimeout: deadlineMs });
    const wire = new Wire(ws, handlers);
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: { wire: Wire; hello: Hello } | { refused: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        settle({ refused: 'no hello in time' });
        ws.terminate();
      }, deadlineMs);
      ws.on('unexpected-response', (_req, res) => {
        settle({ refused: `HTTP ${res.statusCode ?? 0}` });
        ws.terminate();
      });
      ws.on('error', (err) => settle({ refused: (err as NodeJS.ErrnoException).code ?? err.message }));
      ws.on('close', (code) => {
        settle({ refused: `closed with ${code} before the hello` });
        wire.onClose(code);
      });
      ws.on('message', (data) => {
        let frame: Push & { rid?: unknown };
        try {
          frame = JSON.parse((data as Buffer).toString('utf8')) as Push & { rid?: unknown };
        } catch {
          handlers.push({ t: 'unparsable' });
          return;
        }
        if (frame.t === 'reply' && typeof frame.rid === 'number') {
          const done = wire.pending.get(frame.rid);
          wire.pending.delete(frame.rid);
          const error = frame['error'] as { code?: string } | undefined;
          done?.(frame['ok'] === true ? { ok: true, data: frame['data'] } : { ok: false, code: error?.code ?? 'unknown' });
          return;
        }
        if (frame.t === 'hello') settle({ wire, hello: frame as unknown as Hello });
        handlers.push(frame);
      });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** A request; `timeout` when no reply came within the deadline, `closed` when the socket closed first. */
  request<T>(t: string, fields: Record<string, unknown>, deadlineMs: number): Promise<Outcome<T>> {
    if (this.isClosed) return Promise.resolve({ ok: false, code: 'closed' });
    const rid = ++this.rid;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        resolve({ ok: false, code: 'timeout' });
      }, deadlineMs);
      this.pending.set(rid, (o) => {
        clearTimeout(timer);
        resolve(o as Outcome<T>);
      });
      this.ws.send(JSON.stringify({ t, rid, ...fields }));
    });
  }

  /** Drops the connection at once (no close handshake): what a client does with a dead server. */
  terminate(): void {
    this.ws.terminate();
  }

  close(): void {
    this.ws.close(1000);
  }

  private onClose(code: number): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const done of this.pending.values()) done({ ok: false, code: 'closed' });
    this.pending.clear();
    this.handlers.closed(code);
  }
}
