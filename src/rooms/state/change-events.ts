import type { ChatMessage } from '../../domain/messages.js';
import type { ChangeInput } from './room-state.js';

/**
 * The event a change (or a reply) becomes once it has its seq, before what sequencing computes
 * (`version`, `count`, `users`): fields in the canonical order of `eventJson`. A change other
 * than an edit has an empty body.
 */
export function changeEvent(input: ChangeInput, seq: number): ChatMessage {
  const base = { room: input.room, seq, cid: input.cid, from: input.from, body: input.op === 'edit' || input.op === 'reply' ? (input.body ?? '') : '' };
  const meta = (input.op === 'edit' || input.op === 'reply') && input.meta !== undefined ? { meta: input.meta } : {};
  if (input.op === 'reply') return { ...base, ...meta, ts: input.ts, parent: input.target };
  return { ...base, ...meta, ts: input.ts, op: input.op, target: input.target, ...(input.reaction !== undefined ? { reaction: input.reaction } : {}) };
}

/** The event JSON before its seq and after it (without the closing brace): what Redis splices the seq and computed fields into. */
export function eventJsonParts(e: ChatMessage): { before: string; after: string } {
  const json = eventJson(e);
  const before = `{"room":${JSON.stringify(e.room)},"seq":`;
  return { before, after: json.slice(before.length + String(e.seq).length, -1) };
}

/**
 * The JSON of an event exactly as the Redis room state writes it (field order matters: the
 * buffer's members are compared as strings): room, seq, cid, from, body, meta, ts, then a
 * reply's parent or a change's op, target, reaction, version, count, users.
 */
export function eventJson(m: ChatMessage): string {
  const { room, seq, cid, from, body, meta, ts, parent, op, target, reaction, version, count, users } = m;
  return JSON.stringify({
    room,
    seq,
    cid,
    from,
    body,
    ...(meta !== undefined ? { meta } : {}),
    ts,
    ...(parent !== undefined ? { parent } : {}),
    ...(op !== undefined ? { op, target } : {}),
    ...(reaction !== undefined ? { reaction } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(count !== undefined ? { count, users } : {}),
  });
}
