import type { TimerGroup, Clock } from './timers.js';

/**
 * The client side of the heartbeat: the server pings every `heartbeat` seconds, but
 * WebSocket pings are invisible to browser code, so after `heartbeat` seconds without any
 * frame the client sends a `ping` request itself, and after twice that it gives the
 * connection up as dead.
 */
export class Watchdog {
  #lastRx: number;
  #pinged = false;
  #stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly timers: TimerGroup,
    private readonly intervalMs: number,
    private readonly onIdle: () => void,
    private readonly onDead: () => void,
  ) {
    this.#lastRx = clock.now();
    this.#arm(intervalMs);
  }

  /** A frame arrived. Cheap: no timer is touched; the next check sees the new time. */
  touch(): void {
    this.#lastRx = this.clock.now();
    this.#pinged = false;
  }

  stop(): void {
    this.#stopped = true;
  }

  #arm(ms: number): void {
    this.timers.after(ms, () => this.#check());
  }

  #check(): void {
    if (this.#stopped) return;
    const idle = this.clock.now() - this.#lastRx;
    if (idle >= 2 * this.intervalMs) {
      this.#stopped = true;
      this.onDead();
      return;
    }
    if (idle >= this.intervalMs) {
      if (!this.#pinged) {
        this.#pinged = true;
        this.onIdle();
      }
      this.#arm(2 * this.intervalMs - idle);
      return;
    }
    this.#arm(this.intervalMs - idle);
  }
}
