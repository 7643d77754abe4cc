import type { ChatMessage } from './messages.js';
import type { SummaryState } from './summary.js';

/** What a durable copy holds of a room's newest messages. */
export interface DurableTail {
  /** The epoch of the room's newest durable message, when the copy records it. */
  epoch: string | undefined;
  /** The highest durable seq of that epoch. */
  seq: number;
  /**
   * The room's newest durable messages of that epoch, oldest first: at least those within the
   * dedupe TTL of the newest one, so that their `cid`s stay duplicates.
   */
  messages?: ChatMessage[];
}

/** The last position of a room that outlives Redis (the durable queue, the message store). */
export interface DurablePosition {
  /**
   * The summary states the copy holds of messages `seqs` (those it folded changes or replies
   * into): a restored room takes them back. Optional: a copy that folds nothing (the queue) has none.
   */
  summaryStates?(room: string, seqs: readonly number[]): Promise<Map<number, SummaryState>>;
  /**
   * `sinceTs`: the tail's messages must reach back to at least this time (the oldest message
   * Redis still holds as pending), so that a restore knows which of those are durable.
   */
  lastPosition(room: string, opts?: { sinceTs?: number }): Promise<DurableTail | undefined>;
}
