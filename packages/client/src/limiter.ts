/** Runs at most `max` tasks at a time; the others start in call order as earlier ones settle. */
export class Limiter {
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running < this.max) this.#running++;
    else await new Promise<void>((resolve) => this.#queue.push(resolve));
    try {
      return await task();
    } finally {
      // A waiting task takes over this slot; otherwise the slot is free.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
