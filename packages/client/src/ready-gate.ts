import { ParleyClientError } from './errors.js';
import type { Clock, TimerGroup } from './timers.js';
import type { Connection } from './transport.js';

/** Something that waits for a ready connection; run in the order the calls were made. */
interface Waiter {
  run(conn: Connection): void;
  fail(err: ParleyClientError): void;
}

export interface ReadyGateDeps {
  clock: Clock;
  requestTimeout: number;
  /** The client's timers, which outlive reconnects. */
  timers: TimerGroup;
}

/**
 * The connection the client's calls may use: the one that said hello, once every room it was
 * in has been rejoined on it (ready). Calls made meanwhile wait for it, across reconnects, and
 * run in the order they were made.
 */
export class ReadyGate {
  readonly #waiters = new Set<Waiter>();
  /** The connection that said hello, until it drops. */
  #conn: Connection | undefined;
  /** True once every room of `#conn` was rejoined. */
  #ready = false;

  constructor(private readonly deps: ReadyGateDeps) {}

  /** The connection that said hello, until it drops; not necessarily ready. */
  get conn(): Connection | undefined {
    return this.#conn;
  }

  /** A connection said hello: it becomes ready with `open`. */
  hello(conn: Connection): void {
    this.#conn = conn;
  }

  /** Every room of `conn` was rejoined: the waiting calls run on it, in order. */
  open(conn: Connection): void {
    this.#ready = true;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.run(conn);
  }

  /** The connection dropped (or the client stopped): calls wait for the next one. */
  lost(): void {
    this.#conn = undefined;
    this.#ready = false;
  }

  /** The client stopped for good: every waiting call fails with `error`. */
  failWaiting(error: ParleyClientError): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.fail(error);
  }

  /** Runs `run` on the ready connection, now or once there is one (no deadline, never failed). */
  whenOpen(run: (conn: Connection) => void): void {
    if (this.#ready && this.#conn) run(this.#conn);
    else this.#waiters.add({ run, fail: () => undefined });
  }

  /** Runs `run` on a ready connection, now or once there is one, within the request timeout. */
  whenReady<T>(run: (conn: Connection, timeLeft: number) => Promise<T>): Promise<T> {
    const { clock, requestTimeout, timers } = this.deps;
    if (this.#ready && this.#conn) return run(this.#conn, requestTimeout);
    const deadline = clock.now() + requestTimeout;
    return new Promise<T>((resolve, reject) => {
      const cancel = timers.after(requestTimeout, () => {
        this.#waiters.delete(waiter);
        reject(new ParleyClientError('timeout', 'not connected within the request timeout'));
      });
      const waiter: Waiter = {
        run: (conn) => {
          cancel();
          run(conn, deadline - clock.now()).then(resolve, reject);
        },
        fail: (err) => {
          cancel();
          reject(err);
        },
      };
      this.#waiters.add(waiter);
    });
  }
}
