import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { docPath } from './api-docs.js';

/** One request as the receiver got it. */
export interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: { id: string; type: string; room: string; ts: number; data: Record<string, unknown> };
  /** What the receiver answered (0: it never answered, the request was cut off). */
  status: number;
  /** Milliseconds since the receiver started. */
  at: number;
}

/** How to answer a request: a status, after an optional delay. */
export type Answer = { status: number; delayMs?: number };

/**
 * A real HTTP webhook endpoint on loopback: records every request and answers with `answer`
 * (default 200). `waitFor` polls the record with a deadline.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  answer: (body: Received['body'], attempt: number) => Answer = () => ({ status: 200 });
  /** Requests being answered right now (their answer delayed). */
  inFlight = 0;
  private readonly server: Server;
  private readonly started = Date.now();

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = JSON.parse(raw.toString('utf8')) as Received['body'];
        const entry: Received = { headers: req.headers, raw, body, status: 0, at: Date.now() - this.started };
        this.received.push(entry);
        const { status, delayMs = 0 } = this.answer(body, Number(req.headers['parley-attempt']));
        this.inFlight++;
        const reply = () => {
          this.inFlight--;
          entry.status = status;
          res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
        };
        if (delayMs > 0) setTimeout(reply, delayMs);
        else reply();
      });
    });
  }

  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get url(): string {
    const addr = this.server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('the receiver is not listening');
    return `http://127.0.0.1:${addr.port}/hooks`;
  }

  /** Requests answered 2xx, in arrival order. */
  delivered(): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300);
  }

  async waitFor(what: string, check: (r: this) => boolean, deadlineMs = 30_000): Promise<void> {
    const end = Date.now() + deadlineMs;
    while (!check(this)) {
      if (Date.now() > end) throw new Error(`webhook receiver: ${what} not within ${deadlineMs} ms (got ${this.received.length} requests: ${this.received.map((r) => `${r.body.id}=${r.status}`).slice(-20).join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export type Verifier = (secret: string, header: string | undefined, rawBody: Buffer, toleranceS?: number, nowS?: number) => boolean;

/** The verification snippet of docs/webhooks.md, loaded as the module a receiver would write from it. */
export async function documentedVerifier(): Promise<Verifier> {
  const doc = readFileSync(docPath('webhooks.md'), 'utf8');
  const block = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((code) => code.startsWith('// verify-parley-webhook.mjs'));
  if (block === undefined) throw new Error('docs/webhooks.md has no verify-parley-webhook.mjs snippet');
  const file = join(mkdtempSync(join(tmpdir(), 'parley-verify-')), 'verify-parley-webhook.mjs');
  writeFileSync(file, block);
  const mod = (await import(pathToFileURL(file).href)) as { verifyParleySignature?: Verifier };
  if (typeof mod.verifyParleySignature !== 'function') throw new Error('the snippet exports no verifyParleySignature');
  return mod.verifyParleySignature;
}
