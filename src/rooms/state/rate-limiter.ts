/** One event counted against a fixed-window limit. */
export interface WindowVerdict {
  /** False once the window holds more than the limit. */
  ok: boolean;
  /** Ms until the window ends (then the count starts again). */
  retryAfterMs: number;
}

/**
 * Fixed-window counters (docs/protocol.md, "Limits and backpressure"): the sends of a user,
 * the handshakes of a client address. Every `take` counts, refused ones too; a window starts at
 * the first event of a key and lasts `windowMs`. The Redis adapter counts for the whole cluster;
 * the memory one for this process. A counter lost with Redis starts again from zero.
 */
export interface RateLimiter {
  take(key: string, limit: number, windowMs: number): Promise<WindowVerdict>;
}

const SWEEP_EVERY = 1024;

/** RateLimiter of embedded mode. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private takes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, limit: number, windowMs: number): Promise<WindowVerdict> {
    const now = this.now();
    if (++this.takes % SWEEP_EVERY === 0) this.sweep(now);
    let w = this.windows.get(key);
    if (!w || w.endsAt <= now) {
      w = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    return Promise.resolve({ ok: w.count <= limit, retryAfterMs: w.endsAt - now });
  }

  private sweep(now: number): void {
    for (const [key, w] of this.windows) if (w.endsAt <= now) this.windows.delete(key);
  }
}
