import type { ChatMessage } from './messages.js';

/**
 * RETENTION_DAYS as readers apply it (docs/operations.md, "Retention"): an event older than the
 * retention is never read back, whatever store still holds it. The stores forget such events on
 * their own schedules (MongoDB's TTL monitor or the worker's sweep, the recent buffers' sweep,
 * the queue stream's age limit); this filter makes the cutoff exact meanwhile. The clock is
 * injectable so that tests need not wait for days.
 */
export class Retention {
  constructor(
    /** 0: events are kept for good. */
    readonly ms: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.ms > 0;
  }

  /** Events with `ts` below this have expired. */
  cutoff(): number {
    return this.enabled ? this.now() - this.ms : -Infinity;
  }

  keep(events: ChatMessage[]): ChatMessage[] {
    if (!this.enabled || events.length === 0) return events;
    const cutoff = this.cutoff();
    return events.every((e) => e.ts >= cutoff) ? events : events.filter((e) => e.ts >= cutoff);
  }
}
