import type { RedisClient } from '../../redis-connection.js';
import type { Logger } from '../../shared/logger.js';
import { scanKeys } from './redis-scan.js';

export interface RecentRetentionOptions {
  redis: RedisClient;
  /** KEY_PREFIX: the room state's keys are `{prefix:room}:recent`. */
  prefix: string;
  /** RETENTION_DAYS in ms. */
  retentionMs: number;
  logger: Logger;
  now?: () => number;
  /** Time between sweeps (default 60 s). */
  intervalMs?: number;
  /** Most recent buffers one sweep looks at (default 10,000): the next sweep starts again. */
  maxKeys?: number;
}

/** Entries read from the old end of one buffer per round trip. */
const CHUNK = 100;

/**
 * Drops the messages older than RETENTION_DAYS from the rooms' recent buffers in Redis
 * (docs/operations.md, "Retention"), by a bounded sweep on a timer, so the send path pays
 * nothing for it: SCAN over the buffers (on every master of a cluster), and per buffer a
 * ZREMRANGEBYSCORE below the first seq still within the retention (seqs grow with time), and the
 * summaries of the messages dropped. Readers
 * filter by the same cutoff (rooms/retention.ts), so nothing expired is read between two sweeps.
 * Idempotent and safe beside appends: it removes by seq, never by rank.
 */
export class RecentRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private failing = false;

  constructor(private readonly opts: RecentRetentionOptions) {}

  start(): void {
    if (this.timer || this.opts.retentionMs <= 0) return;
    this.timer = setInterval(() => void this.sweep(), this.opts.intervalMs ?? 60_000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sweep (one already running is awaited instead); the number of messages removed. Never rejects. */
  sweep(): Promise<number> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<number> {
    const { redis, logger, prefix } = this.opts;
    try {
      const cutoff = (this.opts.now ?? Date.now)() - this.opts.retentionMs;
      let removed = 0;
      await scanKeys(redis, `{${prefix}:*}:recent`, this.opts.maxKeys ?? 10_000, async (keys) => {
        for (const key of keys) removed += await this.trim(key, cutoff);
      });
      if (this.failing) logger.info({ prefix }, 'sweeping expired messages from the recent buffers works again');
      this.failing = false;
      return removed;
    } catch (err) {
      if (!this.failing) logger.error({ err, prefix }, 'sweeping expired messages from the recent buffers failed; retrying every interval');
      this.failing = true;
      return 0;
    }
  }

  /** Removes the buffer's messages before `cutoff`; how many. */
  private async trim(key: string, cutoff: number): Promise<number> {
    const { redis } = this.opts;
    let removed = 0;
    for (;;) {
      const entries = await redis.zrange(key, 0, CHUNK - 1, 'WITHSCORES');
      let below: number | undefined;
      for (let i = 0; i + 1 < entries.length; i += 2) {
        const ts = tsOf(entries[i] ?? '');
        if (ts === undefined || ts >= cutoff) break;
        below = Number(entries[i + 1]);
      }
      if (below === undefined) return removed;
      const n = await redis.zremrangebyscore(key, '-inf', below);
      await this.dropSummaries(key.slice(0, -':recent'.length), below);
      removed += n;
      if (entries.length < 2 * CHUNK || n === 0) return removed;
    }
  }

  /**
   * Drops the summaries (`T:sum` fields, `T:rx:<seq>` hashes) of the room's messages up to
   * `below`: an edited message's summary holds its latest body. A change of such a message
   * later finds it nowhere (MongoDB forgot it too) and is refused `not_found`.
   */
  private async dropSummaries(tag: string, below: number): Promise<void> {
    const { redis } = this.opts;
    let cursor = '0';
    do {
      const [next, flat] = await redis.hscan(`${tag}:sum`, cursor, 'COUNT', 500);
      cursor = next;
      const seqs = flat.filter((_, i) => i % 2 === 0).filter((f) => /^[0-9]+$/.test(f) && Number(f) <= below);
      if (seqs.length > 0) {
        await redis.hdel(`${tag}:sum`, ...seqs);
        await redis.del(...seqs.map((seq) => `${tag}:rx:${seq}`));
      }
    } while (cursor !== '0');
  }
}

function tsOf(json: string): number | undefined {
  try {
    const ts = (JSON.parse(json) as { ts?: unknown }).ts;
    return typeof ts === 'number' ? ts : undefined;
  } catch {
    return undefined;
  }
}
