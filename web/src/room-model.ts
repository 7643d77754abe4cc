import { applyChange, applyReply, newerCopy } from '../../packages/client/src/index.js';
import type { Change, ChatMessage, PresenceMember } from '../../packages/client/src/index.js';

/** How the message list must change after `RoomModel.add`. */
export type ListChange = 'none' | 'append' | 'rerender';

/**
 * What the page holds about one joined room: no DOM here. The unread count follows the
 * server's definition (docs/protocol.md: `head - lastRead`) with the local view of both: `head`
 * grows with every message received, `readPointer` with every `read` this user made (on
 * any of their devices), so a message arriving while the room is not in view counts at once.
 */
export class RoomModel {
  /** Held messages (replies too), in seq order, each seq once, each in its latest version. */
  messages: ChatMessage[] = [];
  readonly #seqs = new Set<number>();
  /** This user's reactions (`seq reaction`), as its own changes and the summaries tell. */
  readonly #mine = new Set<string>();
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

  /** The room's timeline: messages that are not replies in a thread. */
  get timeline(): ChatMessage[] {
    return this.messages.filter((m) => m.parent === undefined);
  }

  get newest(): ChatMessage | undefined {
    const list = this.timeline;
    return list[list.length - 1];
  }

  /** The replies in message `parent`'s thread. */
  thread(parent: number): ChatMessage[] {
    return this.messages.filter((m) => m.parent === parent);
  }

  find(seq: number): ChatMessage | undefined {
    return this.#seqs.has(seq) ? this.messages.find((m) => m.seq === seq) : undefined;
  }

  /** True when this user has `reaction` on message `seq`. */
  reacted(seq: number, reaction: string, me: string): boolean {
    return this.#mine.has(`${seq} ${reaction}`) || (this.find(seq)?.reactions?.[reaction]?.users.includes(me) ?? false);
  }

  /** Folds a change into the message it names; true when a held message changed. */
  change(c: Change, me: string): boolean {
    this.head = Math.max(this.head, c.seq);
    if (c.from === me && c.reaction !== undefined) {
      if (c.op === 'react') this.#mine.add(`${c.target} ${c.reaction}`);
      else this.#mine.delete(`${c.target} ${c.reaction}`);
    }
    const i = this.messages.findIndex((m) => m.seq === c.target);
    const held = this.messages[i];
    if (!held) return false;
    const next = applyChange(held, c);
    this.messages[i] = next;
    return next !== held;
  }

  /** Adds messages not held yet (live pushes and history pages may overlap); a newer copy of a held one replaces it. */
  add(messages: readonly ChatMessage[]): ListChange {
    let replaced = false;
    for (const m of messages) {
      if (!this.#seqs.has(m.seq)) continue;
      const i = this.messages.findIndex((x) => x.seq === m.seq);
      const held = this.messages[i];
      // Only a copy that folded more replaces the held one (the same copy again changes nothing).
      if (held && (m.changed ?? 0) > (held.changed ?? 0) && newerCopy(held, m) === m) {
        this.messages[i] = m;
        replaced = true;
      }
    }
    const fresh = messages.filter((m) => !this.#seqs.has(m.seq));
    for (const reply of fresh) this.#countReply(reply);
    if (fresh.length === 0) return replaced ? 'rerender' : 'none';
    const last = this.messages[this.messages.length - 1]?.seq ?? 0;
    for (const m of fresh) {
      this.#seqs.add(m.seq);
      this.head = Math.max(this.head, m.seq);
    }
    const inOrder = fresh.every((m, i) => m.seq > (i === 0 ? last : (fresh[i - 1]?.seq ?? 0)));
    if (inOrder && !replaced && fresh.every((m) => m.parent === undefined)) {
      this.messages.push(...fresh);
      return 'append';
    }
    this.messages = [...this.messages, ...fresh].sort((a, b) => a.seq - b.seq);
    return 'rerender';
  }

  /** A reply counts in its parent's thread (the parent skips one it has folded in already). */
  #countReply(reply: ChatMessage): void {
    if (reply.parent === undefined) return;
    const i = this.messages.findIndex((m) => m.seq === reply.parent);
    const parent = this.messages[i];
    if (parent) this.messages[i] = applyReply(parent, reply);
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
