import type { Lifecycle } from '../shared/lifecycle.js';
import type { ChatMessage } from '../domain/messages.js';
import type { SummaryState } from '../domain/summary.js';

/** Which messages `messages` lists: below `before` (the newest of them) or above `after` (the oldest); `parent`: only its replies. */
export interface MessageQuery {
  before?: number;
  after?: number;
  parent?: number;
  /** Only messages with `ts` at or after this (RETENTION_DAYS: domain/retention.ts). */
  sinceTs?: number;
  limit: number;
}

/**
 * Long-term history of every room: its events (messages and changes of them) keyed by (room,
 * seq), each message with its changes and replies folded in.
 *
 * Guarantees: `put` is idempotent per (room, seq), and folding is too: a change or reply put
 * twice, or out of seq order, leaves the message as once in order (docs/protocol.md,
 * "Persistence"); a `cid` is not a key (a client may reuse one after DEDUPE_TTL_S, and both
 * messages are kept); the memory adapter keeps a bounded tail per room and loses everything on
 * restart.
 */
export interface MessageStore extends Lifecycle {
  put(messages: readonly ChatMessage[]): Promise<void>;
  /** Stored events with `from <= seq <= to`, oldest first: messages in their latest version. */
  range(room: string, from: number, to: number): Promise<ChatMessage[]>;
  /** Stored messages (no changes) of `query`, oldest first, in their latest version. */
  messages(room: string, query: MessageQuery): Promise<ChatMessage[]>;
  /**
   * The full summary state of message `seq` as stored (a seed for a room state that lost it or
   * never had it): undefined when nothing is stored under `seq`, `change` when a change is.
   */
  summaryState(room: string, seq: number): Promise<SummaryState | 'change' | undefined>;
  /** The user's stored read pointer in the room (0 when none): a fallback when Redis lost it. */
  lastRead(room: string, user: string): Promise<number>;
}
