/**
 * The clock the SDK reads and schedules on. Injectable so tests can drive time by hand;
 * the default reads the host's globals at call time, so fake timers installed later apply.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer set with `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** A set of timers cancelled together (for example, all the timers of one connection). */
export class TimerGroup {
  readonly #handles = new Set<unknown>();
  readonly #sleepers = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  /** Runs `fn` after `ms` unless cleared first; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void {
    const handle = this.clock.setTimeout(() => {
      this.#handles.delete(handle);
      fn();
    }, Math.max(0, ms));
    this.#handles.add(handle);
    return () => {
      if (this.#handles.delete(handle)) this.clock.clearTimeout(handle);
    };
  }

  /**
   * Resolves after `ms`, or as soon as the group is cleared (the caller then finds out why),
   * so that no wait outlives the connection it was for.
   */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#sleepers.delete(wake);
        resolve();
      };
      this.#sleepers.add(wake);
      this.after(ms, wake);
    });
  }

  clear(): void {
    for (const handle of this.#handles) this.clock.clearTimeout(handle);
    this.#handles.clear();
    const sleepers = [...this.#sleepers];
    this.#sleepers.clear();
    for (const wake of sleepers) wake();
  }
}
