import { createInbox, headers, type Msg, type NatsConnection, type NatsError, type Subscription } from 'nats';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/**
 * The stream refused the message because it is full (JetStream 10077, "maximum bytes exceeded"):
 * the queue stream drops nothing to make room (QueueRetention), so the publish fails instead.
 */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/** JSStreamStoreFailedF: the stream could not store the message; "maximum ... exceeded" when full. */
const STORE_FAILED = 10077;

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  at: number;
}

const decoder = new TextDecoder();
const SWEEP_MS = 250;

/**
 * Publishes to JetStream and awaits each PubAck through ONE reply subscription, where nats.js's
 * `js.publish` makes a request (with its timer and plumbing) per message: about a quarter of the
 * CPU per message, which is the whole cost of persistence on the send path.
 */
export class PubAckPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private sub: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  async start(): Promise<void> {
    this.sub = this.nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.answered(err, msg) });
    this.sweeper = setInterval(() => this.expire(), SWEEP_MS);
    this.sweeper.unref();
    await this.nc.flush();
  }

  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const p of this.pending.values()) p.reject(new Error('the JetStream publisher closed before the PubAck'));
    this.pending.clear();
  }

  /** Resolves with the stream's PubAck; rejects on a JetStream error, no stream, or a timeout. `extra`: more headers (trace context). */
  publish(subject: string, data: Uint8Array, msgId: string, extra?: Readonly<Record<string, string>>): Promise<PubAck> {
    if (!this.sub) return Promise.reject(new Error('the JetStream publisher is not started'));
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    if (extra) for (const [key, value] of Object.entries(extra)) h.set(key, value);
    const token = (this.next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, at: Date.now() });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        this.pending.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private answered(err: NatsError | null, msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    if (err) return p.reject(err);
    // A status message instead of a PubAck: 503 when no stream listens on the subject.
    const status = msg.headers;
    if (status && (status.hasError || msg.data.length === 0)) {
      return p.reject(new Error(`JetStream did not take the message: ${status.code} ${status.description}`));
    }
    try {
      const ack = JSON.parse(decoder.decode(msg.data)) as { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
      if (ack.error) {
        const { code, err_code: errCode, description = '' } = ack.error;
        if (errCode === STORE_FAILED && /maximum .* exceeded/.test(description)) {
          return p.reject(new QueueFullError(`the queue stream is full (${description}): it drops nothing to make room`));
        }
        return p.reject(new Error(`JetStream refused the message: ${code ?? '?'} ${description}`));
      }
      if (typeof ack.stream !== 'string' || typeof ack.seq !== 'number') return p.reject(new Error('an unreadable PubAck'));
      p.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true });
    } catch {
      p.reject(new Error('an unreadable PubAck'));
    }
  }

  private expire(): void {
    const before = Date.now() - this.timeoutMs;
    for (const [token, p] of this.pending) {
      if (p.at > before) break; // insertion order is time order
      this.pending.delete(token);
      p.reject(new Error(`no PubAck within ${this.timeoutMs} ms`));
    }
  }
}
