import type { Change } from './change-types.js';
import type { ChatMessage } from './types.js';

/**
 * Message summaries on the client (docs/protocol.md, "Applying changes"): pure functions that
 * keep an application's copy of a message in step with the server's. Given each change and reply
 * once, in seq order (what `change` and `msg` events are), and folded copies from `history`
 * through `newerCopy`, every member's copy converges to the same state, no change applied twice.
 */

/** `m` with change `c` applied (`c.target` is `m.seq`); `m` itself when `c` is folded in already. */
export function applyChange(m: ChatMessage, c: Change): ChatMessage {
  if (c.target !== m.seq || c.seq <= (m.changed ?? 0)) return m;
  const next: ChatMessage = { ...m, changed: c.seq };
  switch (c.op) {
    case 'edit':
      next.body = c.body ?? '';
      if (c.meta !== undefined) next.meta = c.meta;
      else delete next.meta;
      if (c.version !== undefined) next.version = c.version;
      return next;
    case 'delete':
      next.body = '';
      delete next.meta;
      next.deleted = true;
      if (c.version !== undefined) next.version = c.version;
      return next;
    case 'react':
    case 'unreact': {
      const reactions = { ...m.reactions };
      const reaction = c.reaction ?? '';
      if ((c.count ?? 0) > 0) reactions[reaction] = { count: c.count ?? 0, users: c.users ?? [] };
      else delete reactions[reaction];
      if (Object.keys(reactions).length > 0) next.reactions = reactions;
      else delete next.reactions;
      return next;
    }
  }
}

/** `parent` with `reply` counted in its thread (`reply.parent` is `parent.seq`); `parent` itself when counted already. */
export function applyReply(parent: ChatMessage, reply: ChatMessage): ChatMessage {
  if (reply.parent !== parent.seq || reply.seq <= (parent.changed ?? 0)) return parent;
  return { ...parent, changed: reply.seq, replies: { count: (parent.replies?.count ?? 0) + 1, last: { seq: reply.seq, from: reply.from, ts: reply.ts } } };
}

/** Of two copies of one message, the one to keep: `fresh` (from `history`) unless `held` has folded a later event. */
export function newerCopy(held: ChatMessage, fresh: ChatMessage): ChatMessage {
  return (fresh.changed ?? 0) >= (held.changed ?? 0) ? fresh : held;
}
