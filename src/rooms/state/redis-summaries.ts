import type { ReactionSummary } from '../../domain/messages.js';
import { reactionSummary, type MessageSummary } from '../../domain/summary.js';
import type { SummarySeed } from './room-state.js';

/** A summary as lua/changes.ts keeps it in T:sum (see the key layout there). */
interface StoredSummary {
  a: string;
  c: number;
  v: number;
  d?: number;
  dt?: number;
  e?: string;
  es?: number;
  el?: number[];
  r?: Record<string, { n: number; u: string[] | Record<string, never> }>;
  p?: { n: number; s: number; f: string; t: number };
}

/** A T:sum entry as readers fold it in. */
export function parseStoredSummary(json: string): MessageSummary {
  // Written by CHANGE_LUA (cjson) or by `seedArgs` below.
  const s = JSON.parse(json) as StoredSummary;
  const reactions: Record<string, ReactionSummary> = {};
  for (const [reaction, r] of Object.entries(s.r ?? {})) {
    if (r.n > 0) reactions[reaction] = { count: r.n, users: Array.isArray(r.u) ? r.u : [] };
  }
  const edit = s.e !== undefined ? (JSON.parse(s.e) as { body: string; meta?: Record<string, unknown> }) : undefined;
  return {
    changed: s.c,
    version: s.v,
    ...(s.d !== undefined ? { deleted: true } : {}),
    ...(edit ? { edit } : {}),
    ...(Object.keys(reactions).length > 0 ? { reactions } : {}),
    ...(s.p ? { replies: { count: s.p.n, last: { seq: s.p.s, from: s.p.f, ts: s.p.t } } } : {}),
  };
}

/** The edit JSON text CHANGE_LUA keeps (`e`). */
export function editJson(body: string, meta: Record<string, unknown> | undefined): string {
  return JSON.stringify({ body, ...(meta !== undefined ? { meta } : {}) });
}

/**
 * A seed as CHANGE_LUA's arguments: the T:sum entry, then the T:rx entries (field, value) of
 * every user's latest react or unreact.
 */
export function seedArgs(seed: SummarySeed, usersShown: number): string[] {
  const { state } = seed;
  const r: StoredSummary['r'] = {};
  for (const reaction of state.reactions.keys()) {
    const summary = reactionSummary(state, reaction, usersShown);
    if (summary.count > 0) r[reaction] = { n: summary.count, u: summary.users };
  }
  const { last } = state.replies;
  const stored: StoredSummary = {
    a: state.author,
    c: state.changed,
    v: state.version,
    ...(state.deleted ? { d: state.deleted.seq, dt: state.deleted.ts } : {}),
    ...(state.edit ? { e: editJson(state.edit.body, state.edit.meta), es: state.edit.seq } : {}),
    ...(seed.editSeqs.length > 0 && !state.deleted ? { el: seed.editSeqs } : {}),
    ...(Object.keys(r).length > 0 ? { r } : {}),
    ...(last ? { p: { n: state.replies.seqs.size, s: last.seq, f: last.from, t: last.ts } } : {}),
  };
  const entries = [...state.reactions].flatMap(([reaction, users]) => [...users].flatMap(([user, e]) => [`${reaction}\u0000${user}`, `${e.seq}:${e.ts}`]));
  return [JSON.stringify(stored), ...entries];
}
