import type { ChatMessage, ReactionSummary, RepliesSummary, WireChange } from './messages.js';

type Meta = Record<string, unknown>;

/** One user's latest `react` (seq above 0) or `unreact` (seq below 0) of one reaction. */
export interface ReactorEntry {
  seq: number;
  ts: number;
}

/**
 * What a message's changes and replies fold into, in full (every reactor, every reply seq): the
 * memory room state decides on it, the stores keep it, and a seed of the Redis room state is
 * built from it. Merging is order-free and idempotent — each part keeps the change with the
 * highest seq, a reply counts once — so a store that gets changes out of order or twice ends
 * where one that got them once in order does (docs/protocol.md, "Persistence").
 */
export interface SummaryState {
  author: string;
  /** The newest change or reply folded in (0: none). */
  changed: number;
  /** 1 as sent; each edit and the delete add 1. */
  version: number;
  deleted?: { seq: number; ts: number };
  edit?: { seq: number; body: string; meta?: Meta };
  /** reaction -> user -> latest react or unreact. */
  reactions: Map<string, Map<string, ReactorEntry>>;
  replies: { seqs: Set<number>; last?: RepliesSummary['last'] };
}

/** A message's summary as readers fold it in (docs/protocol.md, "Summaries"). */
export interface MessageSummary {
  changed: number;
  version: number;
  deleted?: boolean;
  edit?: { body: string; meta?: Meta };
  reactions?: Record<string, ReactionSummary>;
  replies?: RepliesSummary;
}

export function newSummaryState(author: string): SummaryState {
  return { author, changed: 0, version: 1, reactions: new Map(), replies: { seqs: new Set() } };
}

/** A change or a reply (`event.parent`) of the message `state` summarizes: merged, whatever came before. */
export function applyEvent(state: SummaryState, e: ChatMessage): void {
  state.changed = Math.max(state.changed, e.seq);
  if (e.op === undefined) {
    if (state.replies.seqs.has(e.seq)) return;
    state.replies.seqs.add(e.seq);
    if ((state.replies.last?.seq ?? 0) < e.seq) state.replies.last = { seq: e.seq, from: e.from, ts: e.ts };
    return;
  }
  switch (e.op) {
    case 'edit':
      state.version = Math.max(state.version, e.version ?? 0);
      if (!state.deleted && (state.edit?.seq ?? 0) < e.seq) state.edit = { seq: e.seq, body: e.body, ...(e.meta !== undefined ? { meta: e.meta } : {}) };
      return;
    case 'delete':
      state.version = Math.max(state.version, e.version ?? 0);
      if (!state.deleted || state.deleted.seq > e.seq) state.deleted = { seq: e.seq, ts: e.ts };
      delete state.edit;
      return;
    case 'react':
    case 'unreact': {
      const reaction = e.reaction ?? '';
      let users = state.reactions.get(reaction);
      if (!users) state.reactions.set(reaction, (users = new Map<string, ReactorEntry>()));
      const held = users.get(e.from);
      if (!held || Math.abs(held.seq) < e.seq) users.set(e.from, { seq: e.op === 'react' ? e.seq : -e.seq, ts: e.ts });
      return;
    }
  }
}

/** Who has `reaction` now, in the order they reacted. */
export function reactors(state: SummaryState, reaction: string): string[] {
  const users = [...(state.reactions.get(reaction) ?? [])].filter(([, entry]) => entry.seq > 0);
  return users.sort((a, b) => a[1].seq - b[1].seq).map(([user]) => user);
}

export function reactionSummary(state: SummaryState, reaction: string, usersShown: number): ReactionSummary {
  const users = reactors(state, reaction);
  return { count: users.length, users: users.slice(0, usersShown) };
}

export function summarize(state: SummaryState, usersShown: number): MessageSummary {
  const reactions: Record<string, ReactionSummary> = {};
  for (const reaction of state.reactions.keys()) {
    const r = reactionSummary(state, reaction, usersShown);
    if (r.count > 0) reactions[reaction] = r;
  }
  const { last } = state.replies;
  return {
    changed: state.changed,
    version: state.version,
    ...(state.deleted ? { deleted: true } : {}),
    ...(state.edit ? { edit: { body: state.edit.body, ...(state.edit.meta !== undefined ? { meta: state.edit.meta } : {}) } } : {}),
    ...(Object.keys(reactions).length > 0 ? { reactions } : {}),
    ...(last ? { replies: { count: state.replies.seqs.size, last } } : {}),
  };
}

/** The fields a reader folds into a message; a message without any is as it was sent. */
const SUMMARY_FIELDS = ['version', 'deleted', 'reactions', 'replies', 'changed'] as const;

/** `m` as it was sent: without any summary a reader folded into it. */
export function asSent(m: ChatMessage): ChatMessage {
  if (m.changed === undefined) return m;
  const copy = { ...m };
  for (const f of SUMMARY_FIELDS) delete copy[f];
  return copy;
}

/** `m` (a message as sent) in its latest version, with its summary folded in. */
export function foldSummary(m: ChatMessage, s: MessageSummary): ChatMessage {
  const { meta: _meta, ...rest } = m;
  const meta = s.deleted ? undefined : s.edit ? s.edit.meta : m.meta;
  return {
    ...rest,
    body: s.deleted ? '' : (s.edit?.body ?? m.body),
    ...(meta !== undefined ? { meta } : {}),
    ...(s.version > 1 ? { version: s.version } : {}),
    ...(s.deleted ? { deleted: true as const } : {}),
    ...(s.reactions ? { reactions: s.reactions } : {}),
    ...(s.replies ? { replies: s.replies } : {}),
    ...(s.changed > 0 ? { changed: s.changed } : {}),
  };
}

/** The message a change or reply is about: its `target`, or its `parent`. */
export function subjectOf(e: ChatMessage): number | undefined {
  return e.op !== undefined ? e.target : e.parent;
}

/** A change event as clients get it (the `change` push without `t`): only an edit has a body. */
export function wireChange(e: ChatMessage): WireChange {
  if (e.op === 'edit') return e;
  const { body: _body, ...rest } = e;
  return rest;
}

/** `m` without its body and meta: what a delete leaves of the message and of its edits. */
export function stripBody(m: ChatMessage): ChatMessage {
  const { meta: _meta, ...rest } = m;
  return { ...rest, body: '' };
}

export function cloneSummaryState(s: SummaryState): SummaryState {
  return {
    ...s,
    ...(s.deleted ? { deleted: { ...s.deleted } } : {}),
    ...(s.edit ? { edit: { ...s.edit } } : {}),
    reactions: new Map([...s.reactions].map(([r, users]) => [r, new Map(users)])),
    replies: { seqs: new Set(s.replies.seqs), ...(s.replies.last ? { last: { ...s.replies.last } } : {}) },
  };
}
