import { applyEvent, reactionSummary, reactors, type SummaryState } from '../../domain/summary.js';
import type { ChangeOp, ChatMessage } from '../../domain/messages.js';

/** REACTION_USERS_SHOWN and MAX_REACTIONS_PER_MESSAGE. */
export interface ReactionLimits {
  usersShown: number;
  kindsPerMessage: number;
}

/** What a change request asks, as `decide` judges it. */
export interface ChangeAsk {
  op: ChangeOp | 'reply';
  user: string;
  /** The admin API: may delete any author's message. */
  admin?: boolean;
  reaction?: string;
}

export type Decision =
  | { kind: 'ok' }
  | { kind: 'refused'; code: 'not_found' | 'forbidden'; reason: string }
  /** Nothing to change: the state is already what was asked, since the change `seq` at `ts`. */
  | { kind: 'held'; seq: number; ts: number };

/**
 * The rules of docs/protocol.md ("Requests" of "Message changes") for a change of the message
 * `state` summarizes. Whoever sequences changes (the memory room state; the Redis one runs the
 * same rules in Lua) decides with it in the same step as it hands out the seq.
 */
export function decide(state: SummaryState, ask: ChangeAsk, kindsPerMessage: number): Decision {
  const gone: Decision = { kind: 'refused', code: 'not_found', reason: 'the message was deleted' };
  switch (ask.op) {
    case 'reply':
      return state.deleted ? gone : { kind: 'ok' };
    case 'edit':
      if (state.deleted) return gone;
      return state.author === ask.user ? { kind: 'ok' } : { kind: 'refused', code: 'forbidden', reason: "only its author may edit a message" };
    case 'delete':
      if (state.deleted) return { kind: 'held', seq: state.deleted.seq, ts: state.deleted.ts };
      return ask.admin || state.author === ask.user ? { kind: 'ok' } : { kind: 'refused', code: 'forbidden', reason: "only its author may delete a message" };
    case 'react': {
      if (state.deleted) return gone;
      const reaction = ask.reaction ?? '';
      const held = state.reactions.get(reaction)?.get(ask.user);
      if (held && held.seq > 0) return { kind: 'held', seq: held.seq, ts: held.ts };
      const kinds = [...state.reactions.keys()].filter((r) => reactors(state, r).length > 0);
      if (!kinds.includes(reaction) && kinds.length >= kindsPerMessage) {
        return { kind: 'refused', code: 'forbidden', reason: `a message has at most ${kindsPerMessage} kinds of reaction` };
      }
      return { kind: 'ok' };
    }
    case 'unreact': {
      if (state.deleted) return gone;
      const held = state.reactions.get(ask.reaction ?? '')?.get(ask.user);
      if (!held) return { kind: 'refused', code: 'not_found', reason: 'no such reaction of yours on the message' };
      return held.seq < 0 ? { kind: 'held', seq: -held.seq, ts: held.ts } : { kind: 'ok' };
    }
  }
}

/**
 * Completes a change event `e` that took its seq (its `version`, or its reaction's `count` and
 * `users`) and folds it into `state`.
 */
export function sequenceChange(state: SummaryState, e: ChatMessage, usersShown: number): ChatMessage {
  const done: ChatMessage = e.op === 'edit' || e.op === 'delete' ? { ...e, version: state.version + 1 } : { ...e };
  applyEvent(state, done);
  if (done.op === 'react' || done.op === 'unreact') Object.assign(done, reactionSummary(state, done.reaction ?? '', usersShown));
  return done;
}
