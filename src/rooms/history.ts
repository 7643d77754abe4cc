import type { MessageStore } from '../persistence/message-store.js';
import type { RoomHead, RoomState } from './state/room-state.js';
import type { ChatMessage } from './types.js';

/** Reads of a room's past: the recent buffer first, the message store for anything older. */
export class History {
  constructor(
    private readonly state: RoomState,
    private readonly store: MessageStore,
  ) {}

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    if (to < from) return [];
    const recent = await this.state.range(room, from, to);
    const firstRecent = recent[0]?.seq ?? to + 1;
    if (firstRecent <= from) return recent;
    const older = await this.store.range(room, from, firstRecent - 1);
    return older.length > 0 ? [...older, ...recent] : recent;
  }

  /** `join` recovery (PROTOCOL.md, "Recovery"). */
  async recover(
    room: string,
    head: RoomHead,
    since: number | undefined,
    epoch: string | undefined,
    max: number,
  ): Promise<{ messages: ChatMessage[]; recovered: boolean }> {
    if (since === undefined || since > head.head || (epoch !== undefined && epoch !== head.epoch)) {
      return { messages: [], recovered: false };
    }
    const from = Math.max(since + 1, head.head - max + 1);
    const messages = await this.range(room, from, head.head);
    return { messages, recovered: from === since + 1 && messages.length === head.head - since };
  }

  /** `history`: up to `limit` messages below `before` (or the newest), oldest first. */
  async page(room: string, before: number | undefined, limit: number): Promise<{ room: string; messages: ChatMessage[]; more: boolean }> {
    const { head } = await this.state.head(room);
    const to = before === undefined ? head : Math.min(before - 1, head);
    if (to < 1) return { room, messages: [], more: false };
    const from = Math.max(1, to - limit + 1);
    // One extra message below the page tells whether older ones exist.
    const found = await this.range(room, Math.max(1, from - 1), to);
    const more = found.length > 0 && found[0]!.seq < from;
    return { room, messages: more ? found.slice(1) : found, more };
  }
}
