import { endOfTurn, type TurnScheduler } from './turn-batches.js';

/**
 * Gives a kind of bulk work (WebSocket upgrades in a reconnect storm) at most `budgetMs` of
 * one event-loop turn; what does not fit waits for the next turns, in order. Between those
 * turns the loop polls its sockets, so the frames of live clients are read and answered while
 * thousands of upgrades are still queued, instead of after all of them.
 *
 * Contract: tasks run in the order they were given, each exactly once. A task given when
 * nothing is queued and the turn's budget is not spent runs at once. A turn always runs at
 * least one queued task, so the queue drains however long a task takes. A task that throws is
 * its own failure: the error goes to `onError` and the next tasks still run.
 */
export class TurnBudget {
  private queue: (() => void)[] = [];
  private head = 0;
  /** Milliseconds spent in this turn's tasks. */
  private spentMs = 0;
  /** A turn end is scheduled: it resets the budget and runs what is queued. */
  private armed = false;

  constructor(
    private readonly budgetMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly schedule: TurnScheduler = endOfTurn,
    private readonly clock: () => number = () => performance.now(),
  ) {
    if (!(budgetMs > 0)) throw new RangeError(`TurnBudget: budgetMs must be positive, got ${budgetMs}`);
  }

  /** Tasks waiting for a later turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  run(task: () => void): void {
    if (this.waiting === 0 && this.spentMs < this.budgetMs) this.exec(task);
    else this.queue.push(task);
    this.arm();
  }

  private exec(task: () => void): void {
    const t0 = this.clock();
    try {
      task();
    } catch (err) {
      this.onError(err);
    } finally {
      this.spentMs += this.clock() - t0;
    }
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    this.schedule(() => this.turn());
  }

  private turn(): void {
    this.armed = false;
    this.spentMs = 0;
    let ran = 0;
    while (this.head < this.queue.length && (ran++ === 0 || this.spentMs < this.budgetMs)) this.exec(this.queue[this.head++]!);
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.arm();
    }
  }
}
