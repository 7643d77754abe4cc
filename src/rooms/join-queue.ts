import { DependencyError } from '../shared/errors.js';

export interface JoinQueueOptions {
  /** Tasks running at once; the rest wait their turn. */
  concurrency: number;
  /** Tasks allowed to wait; past it, `run` refuses with `overloaded` at once. */
  maxWaiting: number;
}

/** A waiting task whose requester went away (`cancelled()` said so) before its turn came. */
export class JoinCancelledError extends Error {
  constructor() {
    super('the requester went away before its turn');
    this.name = 'JoinCancelledError';
  }
}

/**
 * One instance for every cancellation: a storm's clients that give up close by the thousand at
 * once, and the error names no task, so it is not worth a stack trace each.
 */
const CANCELLED = new JoinCancelledError();

interface Waiting {
  start: () => void;
  reject: (err: Error) => void;
  cancelled: (() => boolean) | undefined;
}

/**
 * Admission of the work that reconnecting clients bring (connection registration, joins with
 * their recovery reads), so that a reconnect storm cannot fill the room state's connection
 * with thousands of commands queued ahead of live sends: at most `concurrency` tasks run, and
 * a send waits behind at most their few calls, not behind the whole storm.
 *
 * Contract: tasks of one key start in the order they were queued; keys take turns (one task
 * per key per turn), so a connection joining a hundred rooms does not hold back a hundred
 * others joining one. A task's failure is its caller's alone and frees its slot. A task whose
 * `cancelled()` is true when its turn comes is not run: it rejects with JoinCancelledError.
 */
export class JoinQueue {
  private active = 0;
  private queued = 0;
  private readonly byKey = new Map<string, Waiting[]>();
  /** Keys with waiting tasks, in turn order; a key appears at most once. */
  private turns: string[] = [];
  private turnHead = 0;

  constructor(private readonly opts: JoinQueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be an integer >= 1');
    if (!Number.isInteger(opts.maxWaiting) || opts.maxWaiting < 0) throw new RangeError('maxWaiting must be an integer >= 0');
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.queued;
  }

  run<T>(key: string, task: () => Promise<T>, cancelled?: () => boolean): Promise<T> {
    if (this.active < this.opts.concurrency && this.queued === 0) return this.start(task);
    if (this.queued >= this.opts.maxWaiting) {
      return Promise.reject(new DependencyError('join queue', `${this.queued} joins are waiting already, retry`));
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = { start: () => void this.start(task).then(resolve, reject), reject, cancelled };
      const list = this.byKey.get(key);
      if (list) list.push(entry);
      else {
        this.byKey.set(key, [entry]);
        this.turns.push(key);
      }
      this.queued++;
    });
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    this.active++;
    let work: Promise<T>;
    try {
      work = task();
    } catch (err) {
      work = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return work.finally(() => {
      this.active--;
      this.next();
    });
  }

  /** Starts waiting tasks while slots are free, one per key per turn. */
  private next(): void {
    while (this.active < this.opts.concurrency && this.queued > 0) {
      const key = this.turns[this.turnHead++]!;
      const list = this.byKey.get(key)!;
      const entry = list.shift()!;
      this.queued--;
      if (list.length > 0) this.turns.push(key);
      else this.byKey.delete(key);
      if (this.turnHead > 1024 && this.turnHead * 2 > this.turns.length) {
        this.turns = this.turns.slice(this.turnHead);
        this.turnHead = 0;
      }
      if (entry.cancelled?.()) entry.reject(CANCELLED);
      else entry.start();
    }
  }
}
