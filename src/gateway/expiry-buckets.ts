/**
 * Deadlines kept in buckets keyed by the whole second they fall in, so that finding what is
 * due costs the number of items due, not the number of items held. An item is in at most one
 * bucket: adding it again moves it. Deadlines are compared in milliseconds since the epoch.
 */
export class ExpiryBuckets<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly secondOf = new Map<T, number>();
  /** Every bucket up to this second has been taken. */
  private taken: number;

  constructor(nowMs: number) {
    this.taken = Math.floor(nowMs / 1000) - 1;
  }

  get size(): number {
    return this.secondOf.size;
  }

  /** Due once `nowMs >= deadlineMs`; a deadline in a second already taken is due at the next take. */
  add(item: T, deadlineMs: number): void {
    this.remove(item);
    const second = Math.max(Math.ceil(deadlineMs / 1000), this.taken + 1);
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(second, bucket);
    }
    bucket.add(item);
    this.secondOf.set(item, second);
  }

  remove(item: T): void {
    const second = this.secondOf.get(item);
    if (second === undefined) return;
    this.secondOf.delete(item);
    const bucket = this.buckets.get(second);
    if (bucket?.delete(item) && bucket.size === 0) this.buckets.delete(second);
  }

  /** Removes and returns every item whose deadline is at or before `nowMs`. */
  takeDue(nowMs: number): T[] {
    const upTo = Math.floor(nowMs / 1000);
    if (upTo <= this.taken) return [];
    const due: T[] = [];
    const take = (second: number): void => {
      const bucket = this.buckets.get(second);
      if (!bucket) return;
      this.buckets.delete(second);
      for (const item of bucket) {
        this.secondOf.delete(item);
        due.push(item);
      }
    };
    // After a long pause (many empty seconds), walking the buckets beats walking the seconds.
    if (upTo - this.taken > this.buckets.size) {
      for (const second of [...this.buckets.keys()]) if (second <= upTo) take(second);
    } else {
      for (let second = this.taken + 1; second <= upTo; second++) take(second);
    }
    this.taken = upTo;
    return due;
  }
}

/**
 * Calls `onDue` for each item once its deadline has passed, waking at whole seconds only
 * while some deadline is filed (deadlines here are JWT NumericDates: whole seconds, so the
 * wake-up at the start of a second is on time). An idle holder costs one timer a second.
 */
export class DeadlineTimer<T> {
  private readonly buckets = new ExpiryBuckets<T>(Date.now());
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly onDue: (item: T, nowMs: number) => void) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Files the item's deadline, replacing the one it had. */
  file(item: T, deadlineMs: number): void {
    if (this.closed) return;
    this.buckets.add(item, deadlineMs);
    this.arm();
  }

  drop(item: T): void {
    this.buckets.remove(item);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer || this.closed || this.buckets.size === 0) return;
    this.timer = setTimeout(() => this.fire(), 1000 - (Date.now() % 1000));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const item of this.buckets.takeDue(now)) this.onDue(item, now);
    this.arm();
  }
}
