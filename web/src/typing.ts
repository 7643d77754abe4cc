/**
 * Sends this user's `typing` state for the room they type in: `on:true` when they start and
 * again every `refreshMs` while they keep typing (the server turns it off by itself after
 * TYPING_TTL_S, default 6 s, without a refresh), and one `on:false` when they stop: the
 * message is sent, the input is emptied or loses focus, or they switch rooms.
 */
export class TypingSender {
  #room: string | undefined;
  #on = false;
  #lastOn = 0;

  constructor(
    private readonly send: (room: string, on: boolean) => void,
    private readonly refreshMs = 2500,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The input of `room` now holds `text`. */
  input(room: string, text: string): void {
    if (text.trim() === '') return this.stop();
    if (this.#on && this.#room !== room) this.stop();
    const now = this.now();
    if (this.#on && now - this.#lastOn < this.refreshMs) return;
    this.#room = room;
    this.#on = true;
    this.#lastOn = now;
    this.send(room, true);
  }

  stop(): void {
    if (!this.#on || this.#room === undefined) return;
    this.#on = false;
    this.send(this.#room, false);
  }

  /** The connection was replaced: the server forgot the state, so nothing needs turning off. */
  reset(): void {
    this.#on = false;
  }
}
