import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { signatureHeader } from './signature.js';

export interface SendMeta {
  /** The event's idempotency key (`Parley-Idempotency-Key`). */
  id: string;
  type: string;
  /** 1 for the first attempt (`Parley-Attempt`). */
  attempt: number;
}

export type SendOutcome =
  | { ok: true; status: number; ms: number }
  /** `error` says what failed without the URL (it may carry credentials). */
  | { ok: false; status?: number; error: string; ms: number };

export interface WebhookSenderOptions {
  /** Credentials in it (`https://user:pass@host/...`) are sent as Basic authentication. */
  url: string;
  secret: string;
  timeoutMs: number;
}

/** Most bytes of a receiver's answer read (and dropped) before the connection is cut. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One HTTP POST per attempt: the event's raw body, signed, with its idempotency key. A 2xx
 * status within the timeout is a delivery; anything else (another status, a redirect, which is
 * not followed, a timeout, a connection failure) is a failed attempt. node:http with a keep-alive
 * agent: several times the requests per second of fetch for the same CPU.
 */
export class WebhookSender {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(private readonly opts: WebhookSenderOptions) {
    this.url = new URL(opts.url);
    const https = this.url.protocol === 'https:';
    this.agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.request = https ? httpsRequest : httpRequest;
  }

  send(body: Uint8Array, meta: SendMeta): Promise<SendOutcome> {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const done = (outcome: { ok: true; status: number } | { ok: false; status?: number; error: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...outcome, ms: ms() });
      };
      const req = this.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': body.byteLength,
            'user-agent': 'Parley-Webhooks/1',
            'parley-signature': signatureHeader(this.opts.secret, body),
            'parley-idempotency-key': meta.id,
            'parley-event-type': meta.type,
            'parley-attempt': String(meta.attempt),
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          discard(res, this.opts.timeoutMs);
          done(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
        },
      );
      const timer = setTimeout(() => {
        done({ ok: false, error: `no answer within ${this.opts.timeoutMs} ms` });
        req.destroy();
      }, this.opts.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: `request failed: ${err.code ?? err.message}` }));
      req.end(body);
    });
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** Reads the answer to its end (so the connection is reused), cutting it at MAX_ANSWER_BYTES or a stall. */
function discard(res: IncomingMessage, timeoutMs: number): void {
  let read = 0;
  res.setTimeout(timeoutMs, () => res.destroy());
  res.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > MAX_ANSWER_BYTES) res.destroy();
  });
  // The outcome is decided by the status; the rest of the answer (cut above, or lost) does not matter.
  res.on('error', () => undefined);
}
