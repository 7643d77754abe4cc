/**
 * Spreads per-connection heartbeat work over the heartbeat period: the connections are dealt
 * into `count` slots, and slot k is due at `start + k * period / count` (then again one period
 * later), so every connection is visited once per period and no tick handles more than its
 * share. Visits follow the clock, not the number of ticks: a tick that comes late (a busy event
 * loop) takes every slot that fell due meanwhile, so no connection waits more than a period
 * plus that lateness. A connection joins the least loaded slot, so slots stay even under churn.
 */
export class HeartbeatSlots<T> {
  private readonly slots: Set<T>[];
  private readonly slotOf = new Map<T, Set<T>>();
  private readonly tickMs: number;
  /** Slot visits handed out since `startMs`. */
  private visits = 0;

  constructor(
    readonly count: number,
    periodMs: number,
    private readonly startMs: number,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`HeartbeatSlots: count must be a positive integer, got ${count}`);
    this.slots = Array.from({ length: count }, () => new Set<T>());
    this.tickMs = periodMs / count;
  }

  /** How many slots a heartbeat of `periodMs` is cut into: a tick about every `tickMs`, at most `max`. */
  static countFor(periodMs: number, tickMs = 200, max = 250): number {
    return Math.min(max, Math.max(1, Math.round(periodMs / tickMs)));
  }

  get size(): number {
    return this.slotOf.size;
  }

  add(item: T): void {
    if (this.slotOf.has(item)) return;
    let best = this.slots[0]!;
    for (const slot of this.slots) if (slot.size < best.size) best = slot;
    best.add(item);
    this.slotOf.set(item, best);
  }

  remove(item: T): void {
    this.slotOf.get(item)?.delete(item);
    this.slotOf.delete(item);
  }

  /**
   * The slots due by `nowMs` and not visited yet, oldest first; after a stall longer than a
   * period, one full round (each slot once). Live views: removing an item while iterating its
   * slot is safe (Set iteration allows it), and nothing is copied.
   */
  due(nowMs: number): ReadonlySet<T>[] {
    const target = Math.floor((nowMs - this.startMs) / this.tickMs) + 1;
    if (target - this.visits > this.count) this.visits = target - this.count;
    const out: ReadonlySet<T>[] = [];
    for (; this.visits < target; this.visits++) out.push(this.slots[this.visits % this.count]!);
    return out;
  }
}
