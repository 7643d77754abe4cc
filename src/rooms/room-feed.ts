import type { ChatMessage } from './types.js';

/**
 * Puts one room's `msg` events back in seq order on this node before local delivery.
 *
 * The bus is at-most-once and may interleave publishers, so a message can arrive early (a gap)
 * or twice. A duplicate or old seq is dropped; a message after a gap waits until the gap fills
 * or, after `healDelayMs`, `heal` fetches the missing range from the room state. Messages that
 * arrive before the feed knows its starting head are held until `init`.
 */
export class RoomFeed {
  private last = -1;
  private readonly pending = new Map<number, ChatMessage>();
  private healTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly deliver: (message: ChatMessage) => void,
    private readonly heal: (from: number, to: number) => Promise<ChatMessage[]>,
    private readonly onHealError: (err: unknown) => void,
    private readonly healDelayMs = 250,
  ) {}

  /** Sets the seq up to which members already have (or will recover) messages. */
  init(head: number): void {
    if (this.last >= 0) return;
    this.last = head;
    for (const seq of [...this.pending.keys()]) if (seq <= head) this.pending.delete(seq);
    this.drain();
  }

  push(message: ChatMessage): void {
    if (this.closed) return;
    if (this.last >= 0 && message.seq <= this.last) return;
    this.pending.set(message.seq, message);
    if (this.last >= 0) this.drain();
  }

  close(): void {
    this.closed = true;
    if (this.healTimer) clearTimeout(this.healTimer);
    this.pending.clear();
  }

  private drain(): void {
    let next = this.pending.get(this.last + 1);
    while (next) {
      this.pending.delete(next.seq);
      this.last = next.seq;
      this.deliver(next);
      next = this.pending.get(this.last + 1);
    }
    if (this.pending.size === 0) {
      if (this.healTimer) clearTimeout(this.healTimer);
      this.healTimer = undefined;
    } else {
      this.healTimer ??= setTimeout(() => void this.healGap(), this.healDelayMs);
    }
  }

  private async healGap(): Promise<void> {
    this.healTimer = undefined;
    if (this.closed || this.pending.size === 0) return;
    const upTo = Math.min(...this.pending.keys()) - 1;
    try {
      const missing = await this.heal(this.last + 1, upTo);
      for (const m of missing) if (m.seq > this.last) this.pending.set(m.seq, m);
      if (!this.pending.has(this.last + 1)) {
        // The gap is gone from the buffer too: skip it rather than stall the room forever.
        this.last = upTo;
      }
    } catch (err) {
      this.onHealError(err);
    }
    if (!this.closed) this.drain();
  }
}
