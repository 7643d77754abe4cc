import type { ChatMessage, QueuedMessage } from '../domain/messages.js';
import { summarize, type SummaryState } from '../domain/summary.js';

/** One user's latest react (`s` above 0) or unreact (`s` below 0) of a reaction, in a message document. */
export interface ReactorDoc {
  s: number;
  t: number;
}

/**
 * A document of the `messages` collection: an event of a room (a message, or a change of one:
 * `op`), plus `at` (= `ts`) as a Date for humans. A message document also holds what its changes
 * and replies folded into it (docs/protocol.md, "Persistence"): its latest body and meta, and the
 * fields below `chg`. Every fold field records the seq of the change it came from, so that a
 * change applied twice or out of order leaves the document as once in order.
 */
export interface MessageDoc extends Pick<ChatMessage, 'room' | 'seq' | 'cid' | 'from' | 'body' | 'ts' | 'parent' | 'op' | 'target' | 'reaction' | 'version' | 'count' | 'users'> {
  /** `meta` as JSON text: client-chosen keys (`$x`, `a.b`) are not always legal field names. */
  meta?: string;
  /** The room's epoch when the message was queued (absent for messages of embedded mode). */
  epoch?: string;
  at: Date;
  /** Folded: the newest change or reply. */
  chg?: number;
  /** Folded: the version (1 + edits + the delete). */
  v?: number;
  /** Folded: the seq of the edit whose body and meta the document holds. */
  es?: number;
  /** Folded: the delete's seq and ts. */
  del?: number;
  dts?: number;
  /** Folded: base64url(reaction) -> base64url(user) -> latest react or unreact. */
  rx?: Record<string, Record<string, ReactorDoc>>;
  /** Folded: the seqs of the replies, and the newest. */
  reps?: number[];
  rl?: { s: number; f: string; t: number };
}

/** A reaction or user as a field name: base64url, so no `.`, `$` or NUL reaches MongoDB. */
export function fieldName(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

function fromFieldName(s: string): string {
  return Buffer.from(s, 'base64url').toString('utf8');
}

export function toDoc(m: QueuedMessage): MessageDoc {
  return {
    room: m.room,
    seq: m.seq,
    cid: m.cid,
    from: m.from,
    body: m.body,
    ...(m.meta !== undefined ? { meta: JSON.stringify(m.meta) } : {}),
    ...(m.epoch !== undefined ? { epoch: m.epoch } : {}),
    ts: m.ts,
    at: new Date(m.ts),
    ...(m.parent !== undefined ? { parent: m.parent } : {}),
    ...(m.op !== undefined ? { op: m.op, target: m.target ?? 0 } : {}),
    ...(m.reaction !== undefined ? { reaction: m.reaction } : {}),
    ...(m.version !== undefined ? { version: m.version } : {}),
    ...(m.count !== undefined ? { count: m.count, users: m.users ?? [] } : {}),
  };
}

/** The event a document stores, without what was folded into it (a message in its latest body, though). */
export function toEvent(d: Omit<MessageDoc, 'at'>): ChatMessage {
  return {
    room: d.room,
    seq: d.seq,
    cid: d.cid,
    from: d.from,
    body: d.body,
    ...(d.meta !== undefined ? { meta: JSON.parse(d.meta) as Record<string, unknown> } : {}),
    ts: d.ts,
    ...(d.parent !== undefined ? { parent: d.parent } : {}),
    ...(d.op !== undefined ? { op: d.op, target: d.target ?? 0 } : {}),
    ...(d.reaction !== undefined ? { reaction: d.reaction } : {}),
    ...(d.version !== undefined ? { version: d.version } : {}),
    ...(d.count !== undefined ? { count: d.count, users: d.users ?? [] } : {}),
  };
}

/** The full summary state a message document holds. */
export function toSummaryState(d: Omit<MessageDoc, 'at'>): SummaryState {
  const reactions = new Map<string, Map<string, { seq: number; ts: number }>>();
  for (const [r, users] of Object.entries(d.rx ?? {})) {
    reactions.set(fromFieldName(r), new Map(Object.entries(users).map(([u, e]) => [fromFieldName(u), { seq: e.s, ts: e.t }])));
  }
  return {
    author: d.from,
    changed: d.chg ?? 0,
    version: d.v ?? 1,
    ...(d.del !== undefined ? { deleted: { seq: d.del, ts: d.dts ?? 0 } } : {}),
    ...(d.es !== undefined && d.del === undefined ? { edit: { seq: d.es, body: d.body, ...(d.meta !== undefined ? { meta: JSON.parse(d.meta) as Record<string, unknown> } : {}) } } : {}),
    reactions,
    replies: { seqs: new Set(d.reps ?? []), ...(d.rl ? { last: { seq: d.rl.s, from: d.rl.f, ts: d.rl.t } } : {}) },
  };
}

/** A document as readers get it: a message in its latest version with its summary folded in. */
export function toMessage(d: Omit<MessageDoc, 'at'>, usersShown: number): ChatMessage {
  const event = toEvent(d);
  if (d.op !== undefined || d.chg === undefined) return event;
  const s = summarize(toSummaryState(d), usersShown);
  return {
    ...event,
    ...(s.version > 1 ? { version: s.version } : {}),
    ...(s.deleted ? { deleted: true as const } : {}),
    ...(s.reactions ? { reactions: s.reactions } : {}),
    ...(s.replies ? { replies: s.replies } : {}),
    changed: s.changed,
  };
}
