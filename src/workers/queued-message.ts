import { persistSubject, readsSubject } from '../bus/jetstream-streams.js';
import type { QueuedMessage, ReadPointer } from '../domain/messages.js';
import { eventFields } from '../bus/event-fields.js';

const decoder = new TextDecoder();

/** A queued message the worker cannot store as it is: it goes to the dead-letter stream. */
export class UnreadableMessageError extends Error {
  override readonly name = 'UnreadableMessageError';
  constructor(
    message: string,
    /** The room, when the payload named one. */
    readonly room?: string,
  ) {
    super(message);
  }
}

/** Parses and checks one queued message; it must also sit on its own room's subject. */
export function parseQueuedMessage(data: Uint8Array, subject: string, prefix: string): QueuedMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new UnreadableMessageError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UnreadableMessageError('not a JSON object');
  const m = raw as Record<string, unknown>;
  const room = typeof m.room === 'string' && m.room.length > 0 ? m.room : undefined;
  const bad = (what: string) => new UnreadableMessageError(`invalid ${what}`, room);
  if (room === undefined) throw bad('room');
  if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq) || m.seq < 1) throw bad('seq');
  if (typeof m.cid !== 'string') throw bad('cid');
  if (typeof m.from !== 'string') throw bad('from');
  if (typeof m.body !== 'string') throw bad('body');
  if (typeof m.ts !== 'number' || !Number.isFinite(m.ts)) throw bad('ts');
  if (m.meta !== undefined && (typeof m.meta !== 'object' || m.meta === null || Array.isArray(m.meta))) throw bad('meta');
  if (subject !== persistSubject(prefix, room)) throw new UnreadableMessageError(`room ${room} does not match the subject ${subject}`, room);
  if (m.epoch !== undefined && typeof m.epoch !== 'string') throw bad('epoch');
  const extra = eventFields(m);
  if (!extra.ok) throw bad(extra.bad);
  const message: QueuedMessage = { room, seq: m.seq, cid: m.cid, from: m.from, body: m.body, ts: m.ts };
  if (m.epoch !== undefined) message.epoch = m.epoch;
  if (m.meta !== undefined) message.meta = m.meta as Record<string, unknown>;
  Object.assign(message, extra.fields);
  return message;
}

export function isReadsSubject(subject: string, prefix: string): boolean {
  return subject.startsWith(`${prefix}.persist.reads.`);
}

/** Parses and checks one queued read pointer; it must sit on its own room's reads subject. */
export function parseQueuedRead(data: Uint8Array, subject: string, prefix: string): ReadPointer {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new UnreadableMessageError(`not JSON: ${(err as Error).message}`);
  }
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const room = typeof r['room'] === 'string' && r['room'].length > 0 ? r['room'] : undefined;
  if (room === undefined) throw new UnreadableMessageError('a read pointer without a room');
  if (typeof r['user'] !== 'string' || r['user'].length === 0) throw new UnreadableMessageError('a read pointer without a user', room);
  if (typeof r['seq'] !== 'number' || !Number.isSafeInteger(r['seq']) || r['seq'] < 0) throw new UnreadableMessageError('a read pointer with an invalid seq', room);
  if (subject !== readsSubject(prefix, room)) throw new UnreadableMessageError(`room ${room} does not match the subject ${subject}`, room);
  return { room, user: r['user'], seq: r['seq'] };
}
