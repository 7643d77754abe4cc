import { MAX_RESTRICTION_S } from '../rooms/moderation-service.js';
import type { PresenceMode } from '../rooms/ports.js';
import type { ModerationAction } from '../domain/events.js';
import type { WireError } from '../shared/errors.js';

/**
 * The request frames of docs/protocol.md and their decoder. The decoder is total: any input gives
 * a typed request or a `bad_request`/`too_large` error, never a throw.
 */

export type Rid = number | string;

export type Request =
  | { t: 'join'; room: string; since?: number; epoch?: string; presence?: PresenceMode }
  | { t: 'leave'; room: string }
  | { t: 'send'; room: string; cid: string; body: string; meta?: Record<string, unknown>; parent?: number }
  | { t: 'edit'; room: string; cid: string; target: number; body: string; meta?: Record<string, unknown> }
  | { t: 'delete'; room: string; cid: string; target: number }
  | { t: 'react' | 'unreact'; room: string; cid: string; target: number; reaction: string }
  | { t: 'typing'; room: string; on: boolean }
  | { t: 'read'; room: string; seq: number }
  | { t: 'history'; room: string; before?: number; after?: number; limit: number; parent?: number }
  | { t: 'presence'; room: string; cursor?: string; limit: number }
  | { t: 'occupancy'; room: string }
  | { t: 'moderate'; room: string; action: ModerationAction; user: string; duration?: number }
  | { t: 'auth'; token: string }
  | { t: 'ping' };

export type RequestType = Request['t'];
export type RoomRequest = Extract<Request, { room: string }>;

export type Decoded =
  | { ok: true; rid: Rid | undefined; req: Request }
  | { ok: false; rid: Rid | undefined; error: WireError };

export interface FrameLimits {
  maxBodyBytes: number;
  maxMetaBytes: number;
  /** MAX_REACTION_BYTES. */
  maxReactionBytes: number;
}

export const ROOM_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
export const CID_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;
const MAX_EPOCH = 64;
const MAX_RID = 64;
const MAX_CURSOR = 256;
const MAX_TOKEN = 8192;
const MAX_USER = 128;
const ACTIONS: readonly string[] = ['mute', 'unmute', 'ban', 'unban'] satisfies ModerationAction[];

class FieldError extends Error {
  constructor(
    readonly code: 'bad_request' | 'too_large',
    message: string,
  ) {
    super(message);
  }
}

type Fields = Record<string, unknown>;

function room(o: Fields): string {
  const v = o['room'];
  if (typeof v !== 'string' || !ROOM_RE.test(v)) throw new FieldError('bad_request', 'room must be 1-128 chars of [A-Za-z0-9_.:@-]');
  return v;
}

function int(o: Fields, name: string, min: number, max: number): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new FieldError('bad_request', `${name} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function str(o: Fields, name: string, max: number): string | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) throw new FieldError('bad_request', `${name} must be a string of at most ${max} chars`);
  return v;
}

function required<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new FieldError('bad_request', `${name} is required`);
  return v;
}

function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cid(o: Fields): string {
  const v = o['cid'];
  if (typeof v !== 'string' || !CID_RE.test(v)) throw new FieldError('bad_request', 'cid must be 1-64 chars of [A-Za-z0-9_.:@-]');
  return v;
}

/** `body` and `meta` of a `send` or an `edit`, within their byte limits. */
function content(o: Fields, limits: FrameLimits): { body: string; meta?: Record<string, unknown> } {
  const body = o['body'];
  if (typeof body !== 'string') throw new FieldError('bad_request', 'body must be a string');
  if (Buffer.byteLength(body, 'utf8') > limits.maxBodyBytes) {
    throw new FieldError('too_large', `body is over ${limits.maxBodyBytes} bytes`);
  }
  const meta = o['meta'];
  if (meta === undefined) return { body };
  if (!isObject(meta)) throw new FieldError('bad_request', 'meta must be a JSON object');
  if (Buffer.byteLength(JSON.stringify(meta), 'utf8') > limits.maxMetaBytes) {
    throw new FieldError('too_large', `meta is over ${limits.maxMetaBytes} bytes`);
  }
  return { body, meta };
}

/** No C0 control characters, no DEL (docs/protocol.md, `reaction`). */
const hasControl = (s: string): boolean => [...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);

function reaction(o: Fields, limits: FrameLimits): string {
  const v = o['reaction'];
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v, 'utf8') > limits.maxReactionBytes || hasControl(v)) {
    throw new FieldError('bad_request', `reaction must be 1-${limits.maxReactionBytes} UTF-8 bytes without control characters`);
  }
  return v;
}

function parseRequest(o: Fields, limits: FrameLimits): Request {
  const t = o['t'];
  switch (t) {
    case 'join': {
      const since = int(o, 'since', 0, Number.MAX_SAFE_INTEGER);
      const epoch = str(o, 'epoch', MAX_EPOCH);
      const presence = o['presence'];
      if (presence !== undefined && presence !== 'each' && presence !== 'delta') throw new FieldError('bad_request', 'presence must be "each" or "delta"');
      return {
        t,
        room: room(o),
        ...(since !== undefined ? { since } : {}),
        ...(epoch !== undefined ? { epoch } : {}),
        ...(presence !== undefined ? { presence } : {}),
      };
    }
    case 'leave':
      return { t, room: room(o) };
    case 'send': {
      const r = room(o);
      const id = cid(o);
      const parent = int(o, 'parent', 1, Number.MAX_SAFE_INTEGER);
      return { t, room: r, cid: id, ...content(o, limits), ...(parent !== undefined ? { parent } : {}) };
    }
    case 'edit': {
      const r = room(o);
      const id = cid(o);
      return { t, room: r, cid: id, target: required(int(o, 'target', 1, Number.MAX_SAFE_INTEGER), 'target'), ...content(o, limits) };
    }
    case 'delete':
      return { t, room: room(o), cid: cid(o), target: required(int(o, 'target', 1, Number.MAX_SAFE_INTEGER), 'target') };
    case 'react':
    case 'unreact':
      return { t, room: room(o), cid: cid(o), target: required(int(o, 'target', 1, Number.MAX_SAFE_INTEGER), 'target'), reaction: reaction(o, limits) };
    case 'typing': {
      const on = o['on'];
      if (typeof on !== 'boolean') throw new FieldError('bad_request', 'on must be a boolean');
      return { t, room: room(o), on };
    }
    case 'read':
      return { t, room: room(o), seq: required(int(o, 'seq', 0, Number.MAX_SAFE_INTEGER), 'seq') };
    case 'history': {
      const before = int(o, 'before', 1, Number.MAX_SAFE_INTEGER);
      const after = int(o, 'after', 0, Number.MAX_SAFE_INTEGER);
      if (before !== undefined && after !== undefined) throw new FieldError('bad_request', 'before and after are exclusive of each other');
      const anchor = before !== undefined ? { before } : after !== undefined ? { after } : {};
      const parent = int(o, 'parent', 1, Number.MAX_SAFE_INTEGER);
      return { t, room: room(o), ...anchor, limit: int(o, 'limit', 1, 100) ?? 50, ...(parent !== undefined ? { parent } : {}) };
    }
    case 'presence': {
      const cursor = str(o, 'cursor', MAX_CURSOR);
      return { t, room: room(o), ...(cursor !== undefined ? { cursor } : {}), limit: int(o, 'limit', 1, 500) ?? 100 };
    }
    case 'occupancy':
      return { t, room: room(o) };
    case 'moderate': {
      const action = o['action'];
      if (typeof action !== 'string' || !ACTIONS.includes(action)) throw new FieldError('bad_request', 'action must be mute, unmute, ban or unban');
      const user = required(str(o, 'user', MAX_USER), 'user');
      if (user.length === 0) throw new FieldError('bad_request', 'user must not be empty');
      const duration = int(o, 'duration', 1, MAX_RESTRICTION_S);
      if (duration !== undefined && (action === 'unmute' || action === 'unban')) throw new FieldError('bad_request', `duration is for mute and ban, not ${action}`);
      return { t, room: room(o), action: action as ModerationAction, user, ...(duration !== undefined ? { duration } : {}) };
    }
    case 'auth': {
      const token = required(str(o, 'token', MAX_TOKEN), 'token');
      if (token.length === 0) throw new FieldError('bad_request', 'token must not be empty');
      return { t, token };
    }
    case 'ping':
      return { t };
    default:
      throw new FieldError('bad_request', typeof t === 'string' ? `unknown frame type "${t.slice(0, 32)}"` : 't must be a string');
  }
}

function validRid(v: unknown): Rid | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && v.length <= MAX_RID) return v;
  return undefined;
}

/** Decodes an already-parsed frame object; `rid` is taken from the object unless given. */
export function decodeObject(value: unknown, limits: FrameLimits, ridFromTransport?: Rid): Decoded {
  if (!isObject(value)) return { ok: false, rid: ridFromTransport, error: { code: 'bad_request', message: 'a frame must be a JSON object' } };
  let rid = ridFromTransport;
  if (rid === undefined && value['rid'] !== undefined) {
    rid = validRid(value['rid']);
    if (rid === undefined) {
      return { ok: false, rid: undefined, error: { code: 'bad_request', message: 'rid must be an integer or a string of at most 64 chars' } };
    }
  }
  try {
    return { ok: true, rid, req: parseRequest(value, limits) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, rid, error: { code: err.code, message: err.message } };
    return { ok: false, rid, error: { code: 'bad_request', message: 'malformed frame' } };
  }
}

/** Decodes one text frame of the native `/ws` endpoint. */
export function decodeText(text: string, limits: FrameLimits): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, rid: undefined, error: { code: 'bad_request', message: 'a frame must be valid JSON' } };
  }
  return decodeObject(value, limits);
}
