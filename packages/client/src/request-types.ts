/**
 * Wire types of the requests a client sends (docs/protocol.md, "Requests and replies"): the
 * SDK's own copy, kept in step with docs/protocol.md by hand like types.ts.
 */
import type { DeleteRequest, EditRequest, ReactRequest, UnreactRequest } from './change-types.js';
import type { Meta, Rid } from './types.js';

/**
 * How a member takes the room's presence: `each` (the default) one `presence` push per change;
 * `delta`, in rooms above the server's PRESENCE_BATCH_ABOVE, one `presence_delta` per interval.
 */
export type PresenceMode = 'each' | 'delta';

/** `join`: enter a room; with `since`, get the messages missed after it. */
export interface JoinRequest {
  t: 'join';
  rid?: Rid;
  room: string;
  since?: number;
  epoch?: string;
  presence?: PresenceMode;
}
/** `leave`: stop taking a room's pushes. */
export interface LeaveRequest {
  t: 'leave';
  rid?: Rid;
  room: string;
}
/** `send`: post a message; `cid` makes a resend idempotent. */
export interface SendRequest {
  t: 'send';
  rid?: Rid;
  room: string;
  cid: string;
  body: string;
  meta?: Meta;
  /** A reply in the thread of this message. */
  parent?: number;
}
/** `typing`: start or stop showing the user as typing. */
export interface TypingRequest {
  t: 'typing';
  rid?: Rid;
  room: string;
  on: boolean;
}
/** `read`: move the user's read pointer up to `seq`. */
export interface ReadRequest {
  t: 'read';
  rid?: Rid;
  room: string;
  seq: number;
}
/** `history`: a page of a room's stored messages. */
export interface HistoryRequest {
  t: 'history';
  rid?: Rid;
  room: string;
  /** The newest messages below this seq (without `before` or `after`: the room's newest). */
  before?: number;
  /** The oldest messages above this seq; not with `before`. */
  after?: number;
  /** 1-100, default 50. */
  limit?: number;
  /** List this message's thread (its replies) instead of the room. */
  parent?: number;
}
/** `presence`: a page of a room's online members. */
export interface PresenceRequest {
  t: 'presence';
  rid?: Rid;
  room: string;
  cursor?: string;
  /** 1-500, default 100. */
  limit?: number;
}
/** `occupancy`: how many users and connections are online in a room. */
export interface OccupancyRequest {
  t: 'occupancy';
  rid?: Rid;
  room: string;
}
/** `auth`: present a new token on an open connection. */
export interface AuthRequest {
  t: 'auth';
  rid?: Rid;
  token: string;
}
/** `ping`: a round trip. */
export interface PingRequest {
  t: 'ping';
  rid?: Rid;
}

/** Every request a client sends. */
export type ClientRequest =
  | JoinRequest
  | LeaveRequest
  | SendRequest
  | EditRequest
  | DeleteRequest
  | ReactRequest
  | UnreactRequest
  | TypingRequest
  | ReadRequest
  | HistoryRequest
  | PresenceRequest
  | OccupancyRequest
  | AuthRequest
  | PingRequest;

/** The `t` of a request. */
export type RequestType = ClientRequest['t'];
