import type { ChatMessage, PresenceMember } from '../../packages/client/src/index.js';

/** How the message list must change after `RoomModel.add`. */
export type ListChange = 'none' | 'append' | 'rerender';

/**
 * What the page holds about one joined room: no DOM here. The unread count follows the
 * server's definition (docs/protocol.md: `head - lastRead`) with the local view of both: `head`
 * grows with every message received, `readPointer` with every `read` this user made (on
 * any of their devices), so a message arriving while the room is not in view counts at once.
 */
export class RoomModel {
  /** Shown messages, in seq order, each seq once. */
  messages: ChatMessage[] = [];
  readonly #seqs = new Set<number>();
  /** The highest seq known to exist in the room. */
  head = 0;
  /** This user's read pointer: the join's `lastRead`, then every `read` reply or own `read` push. */
  readPointer = 0;
  /** The highest seq this page told the server with `read` (a reply's stored pointer). */
  readSent = 0;
  /** Older messages exist before `messages[0]`. */
  more = false;
  /** The join and first history page are done: the room can be shown and marked read. */
  loaded = false;
  members: PresenceMember[] = [];
  occupancy = 0;
  /** Bumped per presence request, so an older answer never overwrites a newer one. */
  presenceGeneration = 0;
  /** Other users' read pointers, from `read` pushes. */
  readonly reads = new Map<string, number>();
  /** Users typing now, each with the timer that drops them if their `on:false` never comes. */
  readonly typing = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(readonly name: string) {}

  get unread(): number {
    return Math.max(0, this.head - this.readPointer);
  }

  get newest(): ChatMessage | undefined {
    return this.messages[this.messages.length - 1];
  }

  /** Adds messages not held yet (live pushes and history pages may overlap). */
  add(messages: readonly ChatMessage[]): ListChange {
    const fresh = messages.filter((m) => !this.#seqs.has(m.seq));
    if (fresh.length === 0) return 'none';
    const last = this.newest?.seq ?? 0;
    for (const m of fresh) {
      this.#seqs.add(m.seq);
      this.head = Math.max(this.head, m.seq);
    }
    const inOrder = fresh.every((m, i) => m.seq > (i === 0 ? last : (fresh[i - 1]?.seq ?? 0)));
    if (inOrder) {
      this.messages.push(...fresh);
      return 'append';
    }
    this.messages = [...this.messages, ...fresh].sort((a, b) => a.seq - b.seq);
    return 'rerender';
  }

  /** Forgets the messages (the room's history was lost or could not be recovered). */
  clear(): void {
    this.messages = [];
    this.#seqs.clear();
    this.more = false;
  }

  /** Moves the read pointer up (never down); true if it moved. */
  setRead(seq: number): boolean {
    if (seq <= this.readPointer) return false;
    this.readPointer = seq;
    return true;
  }

  /** Users other than `me` and the sender whose read pointer reached the newest message. */
  seenBy(me: string): string[] {
    const newest = this.newest;
    if (!newest) return [];
    return [...this.reads]
      .filter(([user, seq]) => seq >= newest.seq && user !== me && user !== newest.from)
      .map(([user]) => user)
      .sort();
  }

  /** Sets or clears a typing user; `expire` runs if no `on:false` comes within `ttlMs`. */
  setTyping(user: string, on: boolean, ttlMs: number, expire: () => void): void {
    const timer = this.typing.get(user);
    if (timer !== undefined) clearTimeout(timer);
    this.typing.delete(user);
    if (!on) return;
    this.typing.set(
      user,
      setTimeout(() => {
        this.typing.delete(user);
        expire();
      }, ttlMs),
    );
  }

  clearTyping(): void {
    for (const timer of this.typing.values()) clearTimeout(timer);
    this.typing.clear();
  }

  typers(): string[] {
    return [...this.typing.keys()].sort();
  }
}
