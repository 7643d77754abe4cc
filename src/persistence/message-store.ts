import type { Lifecycle } from '../shared/lifecycle.js';
import type { ChatMessage } from '../rooms/types.js';

/**
 * Long-term history of every room, keyed by (room, seq).
 *
 * Guarantees: `put` is idempotent per (room, seq); a `cid` is not a key (a client may reuse one
 * after DEDUPE_TTL_S, and both messages are kept); the memory adapter keeps a bounded tail per
 * room and loses everything on restart.
 */
export interface MessageStore extends Lifecycle {
  put(messages: readonly ChatMessage[]): Promise<void>;
  /** Stored messages with `from <= seq <= to`, oldest first. */
  range(room: string, from: number, to: number): Promise<ChatMessage[]>;
  /** The user's stored read pointer in the room (0 when none): a fallback when Redis lost it. */
  lastRead(room: string, user: string): Promise<number>;
}
