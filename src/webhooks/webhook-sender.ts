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
  url: string;
  secret: string;
  timeoutMs: number;
}

/** Most bytes of a receiver's answer read (then dropped), so its connection can be reused. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One HTTP POST per attempt: the event's raw body, signed, with its idempotency key. A 2xx
 * answer within the timeout is a delivery; anything else (another status, a redirect, a timeout,
 * a connection failure) is a failed attempt.
 */
export class WebhookSender {
  constructor(private readonly opts: WebhookSenderOptions) {}

  async send(body: Uint8Array, meta: SendMeta): Promise<SendOutcome> {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    let res: Response;
    try {
      res = await fetch(this.opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Parley-Webhooks/1',
          'parley-signature': signatureHeader(this.opts.secret, body),
          'parley-idempotency-key': meta.id,
          'parley-event-type': meta.type,
          'parley-attempt': String(meta.attempt),
        },
        // A copy on an ArrayBuffer of its own: what fetch takes (a NATS payload may sit in a shared buffer).
        body: new Uint8Array(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      return { ok: false, error: describe(err, this.opts.timeoutMs), ms: ms() };
    }
    try {
      await drain(res);
    } catch (err) {
      // The status is in: only the rest of the answer was lost.
      if (res.ok) return { ok: true, status: res.status, ms: ms() };
      return { ok: false, status: res.status, error: `HTTP ${res.status}, then ${describe(err, this.opts.timeoutMs)}`, ms: ms() };
    }
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, ms: ms() };
    return { ok: false, status: res.status, error: `HTTP ${res.status}`, ms: ms() };
  }
}

async function drain(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    read += value.byteLength;
    if (read > MAX_ANSWER_BYTES) {
      await reader.cancel();
      return;
    }
  }
}

/** A failure in a few words, never naming the URL. */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const cause = e.cause?.code ?? e.cause?.message;
  return cause !== undefined ? `request failed: ${cause}` : `request failed: ${e.name ?? 'error'}`;
}
