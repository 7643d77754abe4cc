import type { PresenceStatus } from '../domain/presence.js';

/** Every event type a receiver may get (docs/webhooks.md, "Events"). */
export type WebhookType = 'message.stored' | 'message.missed' | 'message.edited' | 'message.deleted' | 'reaction.added' | 'reaction.removed' | 'user.online' | 'user.offline';

/**
 * The body of a webhook request. `id` is the idempotency key: the same on every attempt and
 * replay of an event, different for every other event.
 */
export interface WebhookEvent {
  id: string;
  type: WebhookType;
  room: string;
  /** Milliseconds since the epoch: when the message was accepted, or when the user went online or offline. */
  ts: number;
  data: Record<string, unknown>;
}

/**
 * The webhook event of each kind of queued room event; a kind not listed sends none. A queued
 * message (a reply too) is `msg`; a change of one (docs/protocol.md, "Message changes") is its `op`.
 */
export const QUEUED_KIND_TYPES: Readonly<Record<string, WebhookType>> = {
  msg: 'message.stored',
  edit: 'message.edited',
  delete: 'message.deleted',
  react: 'reaction.added',
  unreact: 'reaction.removed',
};

const encoder = new TextEncoder();

/** The request body, exactly as every attempt sends it (and the signature covers). */
export function encodeEvent(event: WebhookEvent): Uint8Array {
  return encoder.encode(JSON.stringify({ id: event.id, type: event.type, room: event.room, ts: event.ts, data: event.data }));
}

/**
 * The event of a queued room event, or undefined for a kind that sends none (or for a payload
 * the persist worker dead-letters: no room, seq or ts). `data` is the queued event without its
 * room: for a message, {seq, cid, from, body, meta?, ts, parent?, epoch}; for a change, the
 * `change` push's fields and `epoch`.
 */
export function queuedEvent(queued: Record<string, unknown>): WebhookEvent | undefined {
  const { room, seq, ts } = queued;
  if (typeof room !== 'string' || typeof seq !== 'number' || !Number.isSafeInteger(seq) || typeof ts !== 'number') return undefined;
  const op = typeof queued['op'] === 'string' ? queued['op'] : undefined;
  const kind = op ?? (typeof queued['kind'] === 'string' ? queued['kind'] : 'msg');
  const type = QUEUED_KIND_TYPES[kind];
  if (type === undefined) return undefined;
  const { room: _room, kind: _kind, ...data } = queued;
  // A change has a body only when it is an edit (as the `change` push).
  if (op !== undefined && op !== 'edit') delete data['body'];
  const epoch = typeof queued['epoch'] === 'string' ? queued['epoch'] : '-';
  return { id: `${type}/${room}/${epoch}/${seq}`, type, room, ts, data };
}

/** The `message.missed` event of a stored message: who of the room's members had no connection in it. */
export function missedEvent(stored: WebhookEvent, users: readonly string[]): WebhookEvent {
  const { seq, cid, from, epoch } = stored.data;
  return {
    id: stored.id.replace(/^message\.stored\//, 'message.missed/'),
    type: 'message.missed',
    room: stored.room,
    ts: stored.ts,
    data: { seq, cid, from, ...(epoch !== undefined ? { epoch } : {}), users: [...users] },
  };
}

/**
 * `user.online` / `user.offline` of a user in a room, decided at `ts`. The user id is
 * percent-encoded in `id` (user ids may hold any character; the id travels in headers).
 */
export function presenceEvent(room: string, user: string, status: PresenceStatus, ts: number): WebhookEvent {
  const type = status === 'online' ? 'user.online' : 'user.offline';
  return { id: `${type}/${room}/${ts}/${percentEncode(user)}`, type, room, ts, data: { user } };
}

/** Every UTF-8 byte outside [A-Za-z0-9_.~-] as %XX (never throws, unlike encodeURIComponent on a lone surrogate). */
function percentEncode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Headers of an event in the webhook streams: what delivery, dead letters and replays need without parsing the body. */
export const EVENT_HEADERS = { id: 'Parley-Event-Id', type: 'Parley-Event-Type', room: 'Parley-Room', ts: 'Parley-Event-Ts' } as const;

/** Headers the delivery worker adds to the event's own (EVENT_HEADERS) on a dead letter. */
export const DEAD_HEADERS = {
  attempts: 'Parley-Attempts',
  reason: 'Parley-Dead-Reason',
  detail: 'Parley-Dead-Detail',
  failedAt: 'Parley-Failed-At',
} as const;

export type EventHead = Pick<WebhookEvent, 'id' | 'room' | 'ts'> & { type: string };

export function eventHeaders(e: EventHead): Record<string, string> {
  return { [EVENT_HEADERS.id]: e.id, [EVENT_HEADERS.type]: e.type, [EVENT_HEADERS.room]: e.room, [EVENT_HEADERS.ts]: String(e.ts) };
}

/** The event's headers, or undefined when a message lacks them (it was not queued by Parley). */
export function readEventHeaders(h: { get(name: string): string } | undefined): EventHead | undefined {
  const id = h?.get(EVENT_HEADERS.id) ?? '';
  const type = h?.get(EVENT_HEADERS.type) ?? '';
  const room = h?.get(EVENT_HEADERS.room) ?? '';
  const ts = Number(h?.get(EVENT_HEADERS.ts));
  if (id === '' || type === '' || room === '' || !Number.isFinite(ts)) return undefined;
  return { id, type, room, ts };
}
