import type { ChatMessage } from '../domain/messages.js';

/** What a heal found: the messages, and whether any seq of the range may still come (pending). */
export interface HealResult {
  messages: ChatMessage[];
  /** True when part of the range is pending and not finished yet: retry, do not skip it. */
  unsettled: boolean;
}

export interface RoomFeedHooks {
  deliver(message: ChatMessage): void;
  /** Fetches (and finishes, if pending) the room's messages `from..to` of `epoch`. */
  heal(from: number, to: number, epoch: string): Promise<HealResult>;
  /** A heal failed; called once per streak of failures (the feed keeps retrying). */
  onHealError(err: unknown): void;
  /** A heal worked again after `onHealError`. */
  onHealRecovered(): void;
  /** The room's seqs started again in another epoch: members must rejoin. */
  onEpochChange(): void;
}

/**
 * Puts one room's `msg` events back in seq order on this node before local delivery.
 *
 * The bus is at-most-once and may interleave publishers, so a message can arrive early (a gap),
 * twice, or never. A duplicate or old seq is dropped; a message after a gap waits until the gap
 * fills or, after `healDelayMs`, `heal` fetches the missing range. `catchUp` tells the feed the
 * room's counter (a quiet room whose last message the bus lost has no later message to reveal
 * the gap). A seq that heal reports gone (never made durable, lost with its state) is skipped
 * rather than stalling the room; one still pending is retried. Messages that arrive before the
 * feed knows its starting head are held until `init`. A message or counter of another epoch
 * means the room's state was lost and its seqs started again: the feed reports it and follows
 * the new epoch from there.
 */
export class RoomFeed {
  private last = -1;
  private epoch: string | undefined;
  /** The highest seq known to exist: heals reach up to it even with nothing pending above. */
  private target = 0;
  private readonly pending = new Map<number, { message: ChatMessage; epoch: string | undefined }>();
  private healTimer: NodeJS.Timeout | undefined;
  private healing = false;
  private healFailures = 0;
  private closed = false;

  constructor(
    private readonly hooks: RoomFeedHooks,
    private readonly healDelayMs = 250,
  ) {}

  /** The seq up to which members hold the room's messages (-1 before `init`). */
  get delivered(): number {
    return this.last;
  }

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
    if (this.last >= 0 && epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch) this.restart(epoch, message.seq - 1);
    if (this.last >= 0 && message.seq <= this.last) return;
    this.pending.set(message.seq, { message, epoch });
    if (this.last >= 0) this.drain();
  }

  /** The room's counter is `seq` in `epoch`: anything up to it that members lack is fetched. */
  catchUp(epoch: string, seq: number): void {
    if (this.closed || this.last < 0) return;
    if (this.epoch !== undefined && epoch !== this.epoch) {
      this.restart(epoch, seq);
      return;
    }
    if (seq <= this.last) return;
    this.target = Math.max(this.target, seq);
    this.healTimer ??= setTimeout(() => void this.healGap(), 0);
  }

  close(): void {
    this.closed = true;
    if (this.healTimer) clearTimeout(this.healTimer);
    this.pending.clear();
  }

  private restart(epoch: string, last: number): void {
    // Seqs started again: what members hold no longer lines up with what follows.
    this.epoch = epoch;
    this.last = last;
    this.target = 0;
    this.pending.clear();
    this.hooks.onEpochChange();
  }

  private drain(): void {
    let next = this.pending.get(this.last + 1);
    while (next) {
      this.pending.delete(next.message.seq);
      this.last = next.message.seq;
      this.hooks.deliver(next.message);
      next = this.pending.get(this.last + 1);
    }
    if (this.pending.size === 0 && this.target <= this.last) {
      if (this.healTimer) clearTimeout(this.healTimer);
      this.healTimer = undefined;
    } else if (!this.healing) {
      this.healTimer ??= setTimeout(() => void this.healGap(), this.healDelayMs);
    }
  }

  private async healGap(): Promise<void> {
    this.healTimer = undefined;
    if (this.closed || this.healing || this.epoch === undefined) return;
    const upTo = this.pending.size > 0 ? Math.min(...this.pending.keys()) - 1 : this.target;
    if (upTo <= this.last) return this.drain();
    this.healing = true;
    const epoch = this.epoch;
    try {
      const found = await this.hooks.heal(this.last + 1, upTo, epoch);
      if (this.epoch === epoch) {
        for (const m of found.messages) if (m.seq > this.last) this.pending.set(m.seq, { message: m, epoch });
        // The gap is gone from every copy (never made durable, lost with its state): skip it
        // rather than stall the room for ever. A pending part is retried instead.
        if (!this.pending.has(this.last + 1) && !found.unsettled) this.last = firstMissingRunEnd(this.last, upTo, this.pending);
      }
      if (this.healFailures > 0) this.hooks.onHealRecovered();
      this.healFailures = 0;
    } catch (err) {
      if (this.healFailures++ === 0) this.hooks.onHealError(err);
    } finally {
      this.healing = false;
    }
    if (!this.closed) this.drain();
  }
}

/** The seq before the next message held after `last` (or `upTo`): the end of the missing run. */
function firstMissingRunEnd(last: number, upTo: number, held: Map<number, unknown>): number {
  let seq = last + 1;
  while (seq <= upTo && !held.has(seq)) seq++;
  return seq - 1;
}
