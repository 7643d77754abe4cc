import type { RoomEvent } from '../domain/events.js';

export interface TypingOptions {
  /** TYPING_TTL_S in ms: an `on` not refreshed within it ends with an `on:false` push. */
  ttlMs: number;
  /** TYPING_THROTTLE_MS: at most one `on` push per user and room per this many ms (0: none). */
  throttleMs: number;
}

export interface TypingHooks {
  publish(room: string, event: Extract<RoomEvent, { kind: 'typing' }>): Promise<void>;
  /** A push made by a timer failed. */
  onError(err: unknown, room: string, user: string): void;
}

interface Typist {
  room: string;
  user: string;
  /** The last `typing` request said on (and its TTL has not run out). */
  wanted: boolean;
  /** The last push made for this user and room said on. */
  shown: boolean;
  /** The connection of the last request: its own pushes skip it. */
  origin: string | undefined;
  ttl: NodeJS.Timeout | undefined;
  /** Runs from an `on` push for throttleMs: no other `on` push before it ends. */
  window: NodeJS.Timeout | undefined;
}

/**
 * Typing on this node, per (room, user). Clients send `typing on` on every keystroke; members
 * see at most one `on` push per user and room per throttle window:
 * - `on` outside a window is pushed at once and opens a window;
 * - `on` inside a window is not pushed; if the last push said off (an `on`, `off`, `on` within
 *   the window), the `on` is pushed when the window ends, if it still holds then;
 * - `off` (a request, the TTL running out, the user's last connection leaving) is pushed at
 *   once when the last push said on, and not at all otherwise.
 * Every `on` request renews the TTL, pushed or not. The state is this node's: a user typing on
 * two nodes gets a window on each.
 */
export class Typing {
  private readonly typists = new Map<string, Typist>();

  constructor(
    private readonly opts: TypingOptions,
    private readonly hooks: TypingHooks,
  ) {}

  async set(room: string, user: string, origin: string, on: boolean): Promise<void> {
    if (!on) return this.end(room, user, origin);
    const k = key(room, user);
    let t = this.typists.get(k);
    if (!t) {
      t = { room, user, wanted: false, shown: false, origin, ttl: undefined, window: undefined };
      this.typists.set(k, t);
    }
    t.wanted = true;
    t.origin = origin;
    if (t.ttl) clearTimeout(t.ttl);
    const typist = t;
    t.ttl = setTimeout(() => {
      typist.ttl = undefined;
      this.end(room, user, typist.origin).catch((err: unknown) => this.hooks.onError(err, room, user));
    }, this.opts.ttlMs).unref();
    if (t.window) return;
    await this.pushOn(t);
  }

  /**
   * Ends the user's typing: `off` pushed when the last push said on, skipping `origin` (a
   * connection of the user still there); undefined when the user left, so every member gets it.
   */
  async end(room: string, user: string, origin: string | undefined): Promise<void> {
    const k = key(room, user);
    const t = this.typists.get(k);
    if (!t) return;
    t.wanted = false;
    if (t.ttl) clearTimeout(t.ttl);
    t.ttl = undefined;
    if (!t.window) this.typists.delete(k);
    if (!t.shown) return;
    t.shown = false;
    await this.hooks.publish(room, { kind: 'typing', user, on: false, ...(origin !== undefined ? { origin } : {}) });
  }

  clear(): void {
    for (const t of this.typists.values()) {
      if (t.ttl) clearTimeout(t.ttl);
      if (t.window) clearTimeout(t.window);
    }
    this.typists.clear();
  }

  private async pushOn(t: Typist): Promise<void> {
    t.shown = true;
    if (this.opts.throttleMs > 0) t.window = setTimeout(() => this.windowEnded(t), this.opts.throttleMs).unref();
    await this.hooks.publish(t.room, { kind: 'typing', user: t.user, on: true, ...(t.origin !== undefined ? { origin: t.origin } : {}) });
  }

  private windowEnded(t: Typist): void {
    t.window = undefined;
    if (this.typists.get(key(t.room, t.user)) !== t) return;
    if (!t.wanted) {
      this.typists.delete(key(t.room, t.user));
      return;
    }
    if (!t.shown) this.pushOn(t).catch((err: unknown) => this.hooks.onError(err, t.room, t.user));
  }
}

function key(room: string, user: string): string {
  return `${room}\u0000${user}`;
}
