/** Keyed one-shot timers (typing TTLs, presence grace): scheduling a key again replaces its timer. */
export class TimerSet {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly onError: (err: unknown, key: string) => void) {}

  schedule(key: string, delayMs: number, fn: () => Promise<void>): void {
    this.cancel(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      fn().catch((err: unknown) => this.onError(err, key));
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  /** True when a timer was pending. */
  cancel(key: string): boolean {
    const timer = this.timers.get(key);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(key);
    return true;
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
