import type { ChatMessage } from './types.js';

/**
 * Puts one room's `msg` events back in seq order on this node before local delivery.
 *
 * The bus is at-most-once and may interleave publishers, so a message can arrive early (a gap)
 * or twice. A duplicate or old seq is dropped; a message after a gap waits until the gap fills
 * or, after `healDelayMs`, `heal` fetches the missing range from the room state. Messages that
 * arrive before the feed knows its starting head are held until `init`. A message of another
 * epoch means the room's state was lost and its seqs started again: the feed reports it through
 * `onEpochChange` (members must rejoin) and follows the new epoch from there.
 */
export class RoomFeed {
  private last = -1;
  private epoch: string | undefined;
  private readonly pending = new Map<number, { message: ChatMessage; epoch: string | undefined }>();
  private healTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly deliver: (message: ChatMessage) => void,
    private readonly heal: (from: number, to: number) => Promise<ChatMessage[]>,
    private readonly onHealError: (err: unknown) => void,
    private readonly onEpochChange: () => void,
    private readonly healDelayMs = 250,
  ) {}

  /** Sets the epoch and the seq up to which members already have (or will recover) messages. */
  init(epoch: string, head: number): void {
    if (this.last >= 0) return;
    this.epoch = epoch;
    this.last = head;
    for (const [seq, p] of this.pending) if (p.epoch !== undefined && p.epoch !== epoch) this.pending.delete(seq);
    for (const seq of [...this.pending.keys()]) if (seq <= head) this.pending.delete(seq);
    this.drain();
  }

  push(message: ChatMessage, epoch?: string): void {
    if (this.closed) return;
    if (this.last >= 0 && epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch) {
      // Seqs started again: what members hold no longer lines up with what follows.
      this.epoch = epoch;
      this.last = message.seq - 1;
      this.pending.clear();
      this.onEpochChange();
    }
    if (this.last >= 0 && message.seq <= this.last) return;
    this.pending.set(message.seq, { message, epoch });
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
      this.pending.delete(next.message.seq);
      this.last = next.message.seq;
      this.deliver(next.message);
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
      for (const m of missing) if (m.seq > this.last) this.pending.set(m.seq, { message: m, epoch: this.epoch });
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
