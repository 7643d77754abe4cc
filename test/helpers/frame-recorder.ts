import WebSocket from 'ws';
import type { TestNode } from './node.js';

const WAIT_MS = 10_000;

export interface Push {
  t: string;
  seq?: number;
  user?: string;
  [field: string]: unknown;
}

/** A raw /ws connection that keeps every text frame as it came, and its pushes flattened (batched frames included). */
export class FrameRecorder {
  readonly frames: unknown[] = [];
  readonly pushes: Push[] = [];
  private readonly waiters = new Set<() => void>();
  private rid = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const value = JSON.parse((data as Buffer).toString('utf8')) as unknown;
      this.frames.push(value);
      for (const p of Array.isArray(value) ? (value as Push[]) : [value as Push]) this.pushes.push(p);
      for (const w of [...this.waiters]) w();
    });
  }

  /** Connects with the token and `query` (e.g. `&batch=1`), once the server said hello. */
  static open(node: TestNode, token: string, query: string): Promise<FrameRecorder> {
    const ws = new WebSocket(`${node.wsUrl}?token=${encodeURIComponent(token)}${query}`);
    const rec = new FrameRecorder(ws);
    return rec.until(() => rec.pushes.some((p) => p.t === 'hello'), 'hello').then(() => rec);
  }

  /** Resolves once `done()` holds after a frame arrived, or rejects at the deadline. */
  until(done: () => boolean, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${what}: not within ${WAIT_MS} ms (last: ${JSON.stringify(this.pushes.slice(-3))})`));
      }, WAIT_MS);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  async request(t: string, payload: Record<string, unknown> = {}): Promise<Push> {
    const rid = ++this.rid;
    this.ws.send(JSON.stringify({ t, rid, ...payload }));
    await this.until(() => this.pushes.some((p) => p.t === 'reply' && p['rid'] === rid), `reply to ${t}`);
    return this.pushes.find((p) => p.t === 'reply' && p['rid'] === rid)!;
  }

  /** The frames that carried at least one `msg` push. */
  msgFrames(): unknown[] {
    return this.frames.filter((f) => (Array.isArray(f) ? (f as Push[]).some((p) => p.t === 'msg') : (f as Push).t === 'msg'));
  }

  /** The seqs of every `msg` push, in arrival order. */
  seqs(): number[] {
    return this.pushes.filter((p) => p.t === 'msg').map((p) => p.seq!);
  }
}
