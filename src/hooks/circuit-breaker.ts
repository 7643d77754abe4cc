export type BreakerState = 'closed' | 'open' | 'half_open';

/**
 * A circuit breaker: `failures` failures in a row open it; while open, calls are not made; once
 * `cooldownMs` has passed one trial call is let through (half-open): its success closes the
 * breaker, its failure opens it for another cool-down.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private streak = 0;
  private openedAt = 0;
  private trial = false;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly onChange: (state: BreakerState) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /** Whether a call may be made now; in half-open, true once (the trial) until it settles. */
  allow(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open') {
      if (this.now() - this.openedAt < this.cooldownMs) return false;
      this.set('half_open');
    }
    if (this.trial) return false;
    this.trial = true;
    return true;
  }

  success(): void {
    this.streak = 0;
    this.trial = false;
    if (this.current !== 'closed') this.set('closed');
  }

  failure(): void {
    this.trial = false;
    if (this.current === 'half_open' || ++this.streak >= this.failures) {
      this.streak = 0;
      this.openedAt = this.now();
      if (this.current !== 'open') this.set('open');
    }
  }

  private set(state: BreakerState): void {
    this.current = state;
    this.onChange(state);
  }
}
