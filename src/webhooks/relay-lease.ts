import type { KV } from 'nats';
import type { Logger } from '../shared/logger.js';

const KEY = 'relay';

/**
 * One relay at a time, cluster-wide: a key in a JetStream key-value bucket whose entries expire
 * `ttlMs` after they were written. The holder rewrites it every third of that, each write
 * conditional on the revision it last wrote; anyone else may create it once it has expired.
 *
 * `held` is true only until two thirds of the TTL after the start of the last successful write:
 * a holder that was paused, or cut off from NATS, stops relaying before another can take over.
 * `generation` counts acquisitions, so the relay knows when it has just taken the lease over.
 */
export class RelayLease {
  private revision: number | undefined;
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private failing = false;
  generation = 0;

  constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  get held(): boolean {
    return this.revision !== undefined && performance.now() < this.validUntil;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew(), this.ttlMs / 3);
    this.timer.unref();
    void this.renew();
  }

  /** Stops renewing and gives the lease up at once, so another worker need not wait for it to expire. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    const revision = this.revision;
    this.revision = undefined;
    if (revision === undefined) return;
    await this.kv.delete(KEY, { previousSeq: revision }).catch((err: unknown) => this.logger.warn({ err }, 'giving up the webhook relay lease failed; it expires by itself'));
  }

  /** One write; a write already running is awaited instead. Never rejects. */
  renew(): Promise<void> {
    this.renewing ??= this.write().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async write(): Promise<void> {
    const started = performance.now();
    const value = new TextEncoder().encode(this.holder);
    const had = this.revision;
    try {
      this.revision = had === undefined ? await this.kv.create(KEY, value) : await this.kv.update(KEY, value, had);
      this.validUntil = started + (this.ttlMs * 2) / 3;
      if (had === undefined) {
        this.generation++;
        this.logger.info({ holder: this.holder }, 'took the webhook relay lease');
      }
      if (this.failing) this.logger.info({ holder: this.holder }, 'renewing the webhook relay lease works again');
      this.failing = false;
    } catch (err) {
      this.revision = undefined;
      // Not holding it and finding it taken is the normal case of every other worker.
      if (had === undefined && /wrong last sequence/.test((err as Error).message)) return;
      if (had !== undefined) this.logger.warn({ err, holder: this.holder }, 'lost the webhook relay lease');
      else if (!this.failing) this.logger.error({ err, holder: this.holder }, 'taking the webhook relay lease failed; retrying');
      this.failing = had === undefined;
    }
  }
}
