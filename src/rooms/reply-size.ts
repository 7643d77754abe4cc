import type { ChatMessage } from '../domain/messages.js';

/**
 * Byte sizes of replies that carry messages, as a /ws client receives them:
 * `{"t":"reply","rid":…,"ok":true,"data":{…}}` (docs/protocol.md, "Recovery": a `join` reply is at
 * most RECOVERY_MAX_BYTES of serialized frame). Socket.IO's ack of the same data is smaller: no
 * `t`, and a numeric ack id in place of `rid`.
 */

/** The longest `rid` a client may send, serialized: 64 chars that JSON escapes to six bytes each. */
const WORST_RID = '\u0000'.repeat(64);
const WORST_INT = Number.MAX_SAFE_INTEGER;
/** Room for a field added to a reply without its envelope here being updated. */
const SLACK_BYTES = 128;

/** The frame around a `join` reply's messages: every field but `messages` at its longest. */
export function joinEnvelopeBytes(room: string, epoch: string): number {
  return envelopeBytes({ room, epoch, head: WORST_INT, lastRead: WORST_INT, unread: WORST_INT, occupancy: WORST_INT, messages: [], recovered: false, more: false });
}

/** The frame around a `history` reply's messages. */
export function pageEnvelopeBytes(room: string): number {
  return envelopeBytes({ room, messages: [], more: false });
}

function envelopeBytes(data: object): number {
  return Buffer.byteLength(JSON.stringify({ t: 'reply', rid: WORST_RID, ok: true, data }), 'utf8') + SLACK_BYTES;
}

/** One message in a reply's `messages` array, with the comma before it unless it is the first. */
export function messageBytes(m: ChatMessage, first: boolean): number {
  return Buffer.byteLength(JSON.stringify(m), 'utf8') + (first ? 0 : 1);
}

/**
 * The newest of `messages` (oldest first) whose serialized size fits `budget`: a run that ends
 * at the last one. The last one is kept even alone over the budget, so a page always moves on;
 * start-up validation (RECOVERY_MAX_BYTES against MAX_BODY_BYTES) makes that case impossible.
 */
export function newestThatFit(messages: readonly ChatMessage[], budget: number): ChatMessage[] {
  let used = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    used += messageBytes(messages[i]!, i === messages.length - 1);
    if (used > budget && i < messages.length - 1) return messages.slice(i + 1);
  }
  return [...messages];
}
