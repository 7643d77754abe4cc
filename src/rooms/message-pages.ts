import type { HistoryState, HistoryStore, PageAnchor } from './history.js';
import type { ChatMessage } from '../domain/messages.js';

/**
 * `history` pages of messages (no changes): the newest below `before` (or of the room), and a
 * thread's replies (`parent`) either way. Changes take seqs between messages, so a page reads
 * the recent buffer in growing windows until it has enough messages, and asks the store, which
 * can select messages, for what lies below the buffer.
 */
export class MessagePages {
  constructor(
    private readonly state: Pick<HistoryState, 'range'>,
    private readonly store: Pick<HistoryStore, 'messages'>,
  ) {}

  /** Up to `limit` messages of the anchor, oldest first; `more`: others exist beyond them (older, or with `after` newer). */
  async list(room: string, head: number, anchor: PageAnchor, limit: number): Promise<{ messages: ChatMessage[]; more: boolean }> {
    const wanted = (m: ChatMessage): boolean => m.op === undefined && (anchor.parent === undefined || m.parent === anchor.parent);
    if (anchor.after !== undefined) return this.after(room, head, anchor.after, anchor.parent, limit, wanted);
    const to = anchor.before === undefined ? head : Math.min(anchor.before - 1, head);
    const found: ChatMessage[] = [];
    let hi = to;
    // One message more than the page tells whether older ones exist.
    for (let window = limit + 1; hi >= 1 && found.length <= limit; window *= 2) {
      const lo = Math.max(1, hi - window + 1);
      const recent = await this.state.range(room, lo, hi);
      found.unshift(...recent.filter(wanted));
      const firstRecent = recent[0]?.seq ?? hi + 1;
      if (firstRecent > lo && found.length <= limit) {
        found.unshift(...(await this.store.messages(room, { before: firstRecent, ...(anchor.parent !== undefined ? { parent: anchor.parent } : {}), limit: limit + 1 - found.length })));
        break;
      }
      hi = lo - 1;
    }
    return { messages: found.slice(-limit), more: found.length > limit };
  }

  /** The oldest `limit` wanted messages above `after`: the store's below the recent buffer, then the buffer's. */
  private async after(room: string, head: number, after: number, parent: number | undefined, limit: number, wanted: (m: ChatMessage) => boolean): Promise<{ messages: ChatMessage[]; more: boolean }> {
    const recent = after < head ? await this.state.range(room, after + 1, head) : [];
    const firstRecent = recent[0]?.seq ?? head + 1;
    const older = firstRecent > after + 1 ? await this.store.messages(room, { after, ...(parent !== undefined ? { parent } : {}), limit: limit + 1 }) : [];
    const found = [...older.filter((m) => m.seq < firstRecent), ...recent.filter(wanted)];
    return { messages: found.slice(0, limit), more: found.length > limit };
  }
}
