import type { Lifecycle } from '../../shared/lifecycle.js';
import type { ChangeOp, ChatMessage } from '../../domain/messages.js';
import type { MessageSummary, SummaryState } from '../../domain/summary.js';
import type { Refusal, SendChecks } from './moderation.js';

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

/** `appendChecked`: the message, or why the room's restrictions refused it (nothing changed then). */
export type CheckedAppendResult = AppendResult | { refused: Refusal };

/** `probe`: what `appendChecked` would answer now. */
export type ProbeResult = { kind: 'dup' } | { kind: 'new' } | { kind: 'refused'; refusal: Refusal };

/** A change of message `target` (a reply: a message in its thread), sequenced like a message. */
export interface ChangeInput {
  room: string;
  /** Who asks: the event's `from`. */
  from: string;
  cid: string;
  ts: number;
  op: ChangeOp | 'reply';
  /** The message changed; for a reply, its parent. */
  target: number;
  /** `edit` and `reply`. */
  body?: string;
  meta?: Record<string, unknown>;
  /** `react` and `unreact`. */
  reaction?: string;
  /** The admin API: may delete any author's message. */
  admin?: boolean;
}

/** DEDUPE_TTL_S, REACTION_USERS_SHOWN, MAX_REACTIONS_PER_MESSAGE. */
export interface ChangeRules {
  dedupeTtlS: number;
  usersShown: number;
  kindsPerMessage: number;
}

/**
 * What the durable copy (the message store, and the room's recent events) holds of a message the
 * room state does not know: it takes it as the message's summary state. `editSeqs`: the seqs of
 * its edits still among the recent events (a delete strips their bodies).
 */
export interface SummarySeed {
  state: SummaryState;
  editSeqs: number[];
}

/** How `change` runs. */
export interface ChangeOptions {
  /** The target's summary state from the durable copy, after an `unknown`. */
  seed?: SummarySeed;
  /** A client's change: the room's restrictions apply (a ban; a mute but to a delete; slow mode to a reply). */
  checks?: SendChecks;
  /** Decide only: `probed` where it would sequence, changing nothing. */
  probe?: boolean;
}

export type ChangeResult =
  | ({ kind: 'appended' } & AppendResult)
  /** The room's restrictions refused it (nothing changed). */
  | { kind: 'restricted'; refusal: Refusal }
  /** `probe`: allowed, and would take a seq. */
  | { kind: 'probed' }
  | { kind: 'refused'; code: 'not_found' | 'forbidden'; reason: string }
  /** Nothing to change (a reaction the user has, a message already deleted): the change `seq` at `ts` holds it. */
  | { kind: 'held'; seq: number; ts: number; epoch: string }
  /** The target is older than what the room state knows of it: ask again with a seed. */
  | { kind: 'unknown' };

export type CommitStatus = 'committed' | 'earlier' | 'gone';

export interface RoomHead {
  epoch: string;
  /** The readable head: every seq up to it is durable (below the first pending seq). */
  head: number;
  /** The counter: the last seq handed out, pending or not. */
  seq: number;
}

/** A room's messages in a range, split by whether they are known to be durable. */
export interface RoomRead {
  durable: ChatMessage[];
  /** Sequenced but not yet committed: their durable append may have failed or never finished. */
  pending: ChatMessage[];
}

/**
 * The sequence of every room: dedupe, seq assignment and the capped recent buffer, plus read
 * pointers.
 *
 * Guarantees: `append` is atomic — dedupe check, seq increment and buffer append happen in one
 * step, so seqs are gap-free and never handed out twice within an epoch. A new message is
 * *pending* until `commit` says it is durable; readers (`range`, the readable `head`) never see
 * a pending message, and `read` hands pending ones to whoever finishes them. What survives a
 * restart depends on the adapter: the memory one loses everything (a new epoch per room); the
 * Redis one keeps what Redis keeps and, given a durable source, brings a room it lost or holds
 * an older copy of back to that source before it hands out another seq.
 */
export interface RoomState extends Lifecycle {
  append(input: AppendInput, dedupeTtlS: number): Promise<AppendResult>;
  /**
   * `append` for a client's send, in the same atomic step: after the dedupe check (a resend of
   * an accepted cid gets its first message whatever the restrictions), the room's restrictions
   * on `input.from` at `input.ts` (ban, mute, then slow mode unless exempt: see Moderation)
   * refuse it before it takes a seq; an accepted send starts the sender's slow-mode wait.
   */
  appendChecked(input: AppendInput, dedupeTtlS: number, checks: SendChecks): Promise<CheckedAppendResult>;
  /** What `appendChecked` would answer for (from, room, cid) at `ts`, writing nothing of the message. */
  probe(input: Pick<AppendInput, 'room' | 'from' | 'cid' | 'ts'>, checks: SendChecks): Promise<ProbeResult>;
  /**
   * Sequences a change (or a reply) like `append` — dedupe, seq, recent buffer, pending — after
   * deciding, in the same atomic step, whether it is allowed (docs/protocol.md, "Message
   * changes"), and folds it into the target's summary. A delete also strips the bodies of the
   * target and of its edits from the recent buffer. `unknown`: the target is not in the recent
   * buffer and has no summary here; the caller builds a `seed` from the durable copy and asks
   * again. With `checks`, the room's restrictions are checked first, after the dedupe.
   */
  change(input: ChangeInput, rules: ChangeRules, opts?: ChangeOptions): Promise<ChangeResult>;
  /** The summaries held for the room's messages `seqs` (those with none are left out). */
  summaries(room: string, seqs: readonly number[], usersShown: number): Promise<Map<number, MessageSummary>>;
  /**
   * Marks the room's `messages` of `epoch` durable. Idempotent; one status per message:
   * `committed` now, `earlier`, or `gone` (the room is in another epoch, a restore dropped the
   * seq as a hole, or another message holds it): a gone message must not be delivered.
   */
  commit(room: string, epoch: string, messages: readonly ChatMessage[]): Promise<CommitStatus[]>;
  head(room: string): Promise<RoomHead>;
  /**
   * The durable copy holds something this state does not know (a seq it handed out again): the
   * room is verified against the durable copy again before its next seq. A no-op without one.
   */
  invalidate(room: string): Promise<void>;
  /** Durable messages with `from <= seq <= to` still in the recent buffer, oldest first. */
  range(room: string, from: number, to: number): Promise<ChatMessage[]>;
  /** `range`, plus the pending messages of the range. */
  read(room: string, from: number, to: number): Promise<RoomRead>;
  /** Stores max(current, min(seq, head)); returns the stored pointer and whether it moved. */
  setRead(room: string, user: string, seq: number): Promise<{ seq: number; moved: boolean }>;
  getRead(room: string, user: string): Promise<number>;
}
