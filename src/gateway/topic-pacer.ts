import { endOfTurn, type TurnScheduler } from './turn-batches.js';

/**
 * uWS 20.30 keeps at most 32 pending messages per subscriber within one event-loop turn; the
 * 33rd makes it write the subscriber out in the middle of the publish, and a burst past it
 * costs about twice the CPU per delivery (measured: 32 vs 33 messages to 1,000 subscribers).
 */
export const UWS_TURN_MESSAGES = 32;

/** Pushes held per topic before the pacer gives up on pacing and publishes the excess at once. */
export const MAX_BACKLOG = 4096;

/** Publishes one serialized push; `from`, when set, is the connection the push must skip. */
export type PublishFn<F> = (topic: string, push: string, from: F | undefined) => void;

interface Held<F> {
  push: string;
  from: F | undefined;
}

/**
 * Spreads a topic's publishes over event-loop turns: at most `perTurn` per topic in one turn,
 * the rest in the following turns, oldest first.
 *
 * Contract: a topic's pushes are published in the order they were given, whatever the turn.
 * A push given while its topic has pushes held is held behind them. A topic never holds more
 * than `maxBacklog` pushes at the start of a turn: beyond that the excess goes out at once.
 */
export class TopicPacer<F> {
  private readonly held = new Map<string, Held<F>[]>();
  /** Publishes made since the last tick, per topic: the current turn's budget already spent. */
  private spent = new Map<string, number>();
  private armed = false;

  constructor(
    private readonly publishNow: PublishFn<F>,
    private readonly perTurn = UWS_TURN_MESSAGES,
    private readonly maxBacklog = MAX_BACKLOG,
    private readonly schedule: TurnScheduler = endOfTurn,
  ) {}

  /** Pushes held for later turns, over every topic. */
  get backlog(): number {
    let n = 0;
    for (const q of this.held.values()) n += q.length;
    return n;
  }

  publish(topic: string, push: string, from?: F): void {
    const queue = this.held.get(topic);
    const spent = this.spent.get(topic) ?? 0;
    if (queue) {
      queue.push({ push, from });
    } else if (spent < this.perTurn) {
      this.spent.set(topic, spent + 1);
      this.publishNow(topic, push, from);
    } else {
      this.held.set(topic, [{ push, from }]);
    }
    this.arm();
  }

  /**
   * The end of a turn: what the turn left of each held topic's budget goes out now, then the
   * budgets start again. A tick that runs a turn later than the publishes it counts only errs
   * on the slow side (it spends less than it may).
   */
  private tick(): void {
    this.armed = false;
    const carried = this.spent;
    this.spent = new Map();
    for (const [topic, queue] of [...this.held]) {
      const budget = Math.max(this.perTurn - (carried.get(topic) ?? 0), queue.length - this.maxBacklog);
      const out = queue.splice(0, Math.max(0, budget));
      if (queue.length === 0) {
        this.held.delete(topic);
        // Later pushes of this turn go out at once again: within what is left of its budget.
        this.spent.set(topic, out.length);
      }
      for (const h of out) this.publishNow(topic, h.push, h.from);
    }
    if (this.held.size > 0) this.arm();
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    this.schedule(() => this.tick());
  }
}
