import type { Lifecycle } from '../../shared/lifecycle.js';
import type { ChatMessage } from '../types.js';

export interface AppendInput {
  room: string;
  from: string;
  cid: string;
  body: string;
  meta?: Record<string, unknown>;
  ts: number;
}

export interface AppendResult {
  message: ChatMessage;
  /** True when (from, room, cid) was already accepted within the dedupe TTL: `message` is the first one. */
  dup: boolean;
  epoch: string;
}

export interface RoomHead {
  epoch: string;
  head: number;
}

/**
 * The sequence of every room: dedupe, seq assignment and the capped recent buffer, plus read
 * pointers.
 *
 * Guarantees: `append` is atomic — dedupe check, seq increment and buffer append happen in one
 * step, so seqs are gap-free and never handed out twice within an epoch. What survives a
 * restart depends on the adapter: the memory one loses everything (a new epoch per room), the
 * Redis one keeps what Redis keeps.
 */
export interface RoomState extends Lifecycle {
  append(input: AppendInput, dedupeTtlS: number): Promise<AppendResult>;
  head(room: string): Promise<RoomHead>;
  /** Messages with `from <= seq <= to` still in the recent buffer, oldest first. */
  range(room: string, from: number, to: number): Promise<ChatMessage[]>;
  /** Stores max(current, min(seq, head)); returns the stored pointer and whether it moved. */
  setRead(room: string, user: string, seq: number): Promise<{ seq: number; moved: boolean }>;
  getRead(room: string, user: string): Promise<number>;
}
