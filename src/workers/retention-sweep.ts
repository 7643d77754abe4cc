import type { Retention } from '../domain/retention.js';
import type { Logger } from '../shared/logger.js';

/** What the sweep needs of the store (MongoMessageStore has it). */
export interface ExpiringStore {
  /** Deletes at most `limit` events older than `cutoff` (ms); how many. */
  expire(cutoff: number, limit: number): Promise<number>;
}

export interface RetentionSweepOptions {
  /** Time between sweeps (default 60 s). */
  intervalMs?: number;
  /** Documents deleted per round (default 1,000); a sweep runs rounds until one deletes fewer. */
  batch?: number;
  /** Rounds per sweep at most (default 100): a huge backlog is worked off over several sweeps. */
  maxRounds?: number;
}

/**
 * The persist worker's sweep of events older than RETENTION_DAYS out of MongoDB
 * (docs/operations.md, "Retention"): where the server has TTL indexes it finds little left to
 * do; on FerretDB v1, which has none, it is what enforces retention. Bounded per round and per
 * sweep; failures are logged once per episode and retried on the next tick.
 */
export class RetentionSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private failing = false;

  constructor(
    private readonly store: ExpiringStore,
    private readonly retention: Retention,
    private readonly logger: Logger,
    private readonly opts: RetentionSweepOptions = {},
  ) {}

  start(): void {
    if (this.timer || !this.retention.enabled) return;
    this.timer = setInterval(() => void this.sweep(), this.opts.intervalMs ?? 60_000);
    this.timer.unref();
    void this.sweep();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep (one already running is awaited instead): the documents deleted. Never rejects. */
  sweep(): Promise<number> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<number> {
    const batch = this.opts.batch ?? 1_000;
    let deleted = 0;
    try {
      const cutoff = this.retention.cutoff();
      for (let round = 0; round < (this.opts.maxRounds ?? 100); round++) {
        const n = await this.store.expire(cutoff, batch);
        deleted += n;
        if (n < batch) break;
      }
      if (deleted > 0) this.logger.info({ deleted, cutoff: new Date(cutoff).toISOString() }, 'deleted messages older than the retention');
      if (this.failing) this.logger.info('sweeping expired messages from MongoDB works again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.error({ err, deleted }, 'sweeping expired messages from MongoDB failed; retrying every interval');
      this.failing = true;
    }
    return deleted;
  }
}
