import type { ChatMessage } from '../rooms/types.js';
import type { MessageStore } from './message-store.js';

/** MessageStore of embedded mode: the newest `maxPerRoom` messages of each room, in this process. */
export class MemoryMessageStore implements MessageStore {
  private readonly rooms = new Map<string, ChatMessage[]>();

  constructor(private readonly maxPerRoom: number) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  put(messages: readonly ChatMessage[]): Promise<void> {
    for (const m of messages) this.insert(m);
    return Promise.resolve();
  }

  range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    const list = this.rooms.get(room);
    if (!list || to < from) return Promise.resolve([]);
    const start = lowerBound(list, from);
    const end = lowerBound(list, to + 1);
    return Promise.resolve(list.slice(start, end));
  }

  /** Embedded mode keeps read pointers in the memory room state only. */
  lastRead(): Promise<number> {
    return Promise.resolve(0);
  }

  private insert(m: ChatMessage): void {
    let list = this.rooms.get(m.room);
    if (!list) {
      list = [];
      this.rooms.set(m.room, list);
    }
    const at = lowerBound(list, m.seq);
    if (list[at]?.seq === m.seq) return;
    list.splice(at, 0, m);
    if (list.length > this.maxPerRoom) list.splice(0, list.length - this.maxPerRoom);
  }
}

/** Index of the first message whose seq is >= `seq` (the list is sorted by seq). */
function lowerBound(list: readonly ChatMessage[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid]?.seq ?? Infinity) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
