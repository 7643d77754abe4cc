/**
 * Spreads per-connection heartbeat work over the heartbeat period: the connections are dealt
 * into `count` slots and one slot is visited per tick (a tick every period / count), so every
 * connection is visited exactly once per period and no tick handles more than its share.
 * A connection joins the least loaded slot, so slots stay even as connections come and go.
 */
export class HeartbeatSlots<T> {
  private readonly slots: Set<T>[];
  private readonly slotOf = new Map<T, Set<T>>();
  private next = 0;

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`HeartbeatSlots: count must be a positive integer, got ${count}`);
    this.slots = Array.from({ length: count }, () => new Set<T>());
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
   * The next slot's items, in turn. A live view: removing an item while iterating it is safe
   * (Set iteration allows it), and the slot is not copied.
   */
  take(): ReadonlySet<T> {
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % this.count;
    return slot;
  }
}
