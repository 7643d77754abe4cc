/**
 * The waits of a long-running loop (between retries, between polls) that its `close()` cuts
 * short: once stopped, every wait in progress ends and every later one resolves at once.
 */
export class Pauses {
  private readonly wakers = new Set<() => void>();
  private ended = false;

  /** True once `stop()` was called: the loop should wind down. */
  get stopped(): boolean {
    return this.ended;
  }

  /** Resolves after `ms`, or at once when stopped. */
  sleep(ms: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => (clearTimeout(t), this.wakers.delete(wake), resolve());
      const t = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  stop(): void {
    this.ended = true;
    this.wakers.forEach((wake) => wake());
  }
}
