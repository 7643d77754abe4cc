import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';

/** What the test hook answers one call with: a verdict (HTTP 200), another status, a delay, or a cut connection. */
export type HookAnswer =
  | { verdict: Record<string, unknown>; delayMs?: number }
  | { status: number; body?: string; delayMs?: number }
  | { destroy: true };

export interface HookCall {
  body: Record<string, unknown>;
  headers: IncomingMessage['headers'];
}

/**
 * A before-publish hook (docs/hooks.md) for tests: a real HTTP server on 127.0.0.1 that records
 * every call and answers as `answer` says (accept by default). It counts the TCP connections it
 * accepted, so tests can see keep-alive at work.
 */
export class HookServer {
  readonly calls: HookCall[] = [];
  connections = 0;
  answer: (call: HookCall) => HookAnswer = () => ({ verdict: { action: 'accept' } });
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<HookServer> {
    const server = createServer();
    const hook = new HookServer(server);
    server.on('connection', (socket) => {
      hook.connections++;
      hook.sockets.add(socket);
      socket.on('close', () => hook.sockets.delete(socket));
    });
    server.on('request', (req, res) => hook.handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return hook;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/publish`;
  }

  /** Calls whose body has this cid. */
  callsFor(cid: string): HookCall[] {
    return this.calls.filter((c) => c.body['cid'] === cid);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = { body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: req.headers };
      this.calls.push(call);
      const answer = this.answer(call);
      if ('destroy' in answer) return req.socket.destroy();
      const reply = () => {
        if (res.destroyed) return;
        if ('verdict' in answer) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.verdict));
        else res.writeHead(answer.status).end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  }
}
