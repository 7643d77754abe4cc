/**
 * Wire types of the Parley protocol v2 (docs/protocol.md), the SDK's own copy: `client/` imports
 * nothing from the server, so these are kept in step with docs/protocol.md by hand.
 */
import type { Change, ChangePush, DeleteRequest, EditRequest, ReactRequest, ReactionSummary, RepliesSummary, UnreactRequest } from './change-types.js';

/** Every protocol error code (docs/protocol.md, "Error codes"). */
export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_joined',
  'too_large',
  'rate_limited',
  'overloaded',
  'not_found',
  'internal',
  'rejected',
  'muted',
  'banned',
  'slow_mode',
  'user_rate_limited',
] as const;

/** A protocol error code, as carried by `reply.error.code` and `error` pushes. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** WebSocket close codes of docs/protocol.md ("Close codes"). */
export const CloseCode = {
  NORMAL: 1000,
  DRAINING: 1001,
  TOO_LARGE: 1009,
  UNAUTHORIZED: 4001,
  FORBIDDEN: 4003,
  RATE_ABUSE: 4008,
  SLOW_CONSUMER: 4029,
  BAD_FRAMES: 4400,
} as const;

/** Request id: an integer, or a string of at most 64 chars. */
export type Rid = number | string;

/** A JSON object of at most 1024 bytes serialized. */
export type Meta = Record<string, unknown>;

/**
 * A stored chat message, as pushed in `msg` and returned by `join` and `history`. `join` and
 * `history` replies carry it in its latest version with its summary (`version`, `deleted`,
 * `reactions`, `replies`, `changed`); a `msg` push carries it as sent.
 */
export interface ChatMessage {
  room: string;
  seq: number;
  cid: string;
  from: string;
  body: string;
  meta?: Meta;
  /** Milliseconds since the epoch, set by the server. */
  ts: number;
  /** A reply: the seq of the message whose thread it is in. */
  parent?: number;
  /** Its version when edited or deleted (1 + edits + the delete). */
  version?: number;
  /** A tombstone: the body is empty and there is no meta. */
  deleted?: true;
  reactions?: Record<string, ReactionSummary>;
  replies?: RepliesSummary;
  /** The seq of the newest change or reply folded into this copy: one not above it is already applied. */
  changed?: number;
}

// ---- requests (client → server) ----

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

// ---- reply data ----

/** The reply to `join`: the room's epoch and head, the user's read pointer, missed messages. */
export interface JoinReply {
  room: string;
  epoch: string;
  head: number;
  lastRead: number;
  unread: number;
  occupancy: number;
  /** With `since`: the oldest messages with `seq > since` that fit the reply, oldest first. */
  messages: ChatMessage[];
  /** With `since`: the changes with `seq > since` among the same events, oldest first. */
  changes: Change[];
  /** True when `messages` and `changes` hold every event from `since + 1` to `head`. */
  recovered: boolean;
  /**
   * True when messages after `messages` up to `head` were left out (the reply's size cap): they
   * are fetched with `history` and `after` before the room's live messages are relied on.
   */
  more: boolean;
}
/** The reply to `leave`. */
export interface LeaveReply {
  room: string;
}
/** The reply to `send`: the message's place in the room. */
export interface SendReply {
  room: string;
  cid: string;
  seq: number;
  ts: number;
  /** True when this cid was already accepted: `seq` and `ts` are the first ones. */
  dup: boolean;
}
/** The reply to `typing`: empty. */
export type TypingReply = Record<string, never>;
/** The reply to `read`. */
export interface ReadReply {
  room: string;
  /** The stored pointer, never lowered. */
  seq: number;
}
/** The reply to `history`. */
export interface HistoryReply {
  room: string;
  /** Oldest first. */
  messages: ChatMessage[];
  /** With `after` (no `parent`): the changes among the events above it, oldest first; else empty. */
  changes: Change[];
  /** With `after`: newer events exist up to the head; otherwise: older messages exist. */
  more: boolean;
}
/** One online member of a room, over all of their connections. */
export interface PresenceMember {
  user: string;
  devices: number;
  /** ISO time the user came online. */
  since: string;
}
/** The reply to `presence`: one page of members; `next` is the cursor of the next page, or null. */
export interface PresenceReply {
  room: string;
  occupancy: number;
  members: PresenceMember[];
  next: string | null;
}
/** The reply to `occupancy`. */
export interface OccupancyReply {
  room: string;
  /** Users online in the room (the `occupancy` of `join` and `presence`). */
  users: number;
  /** Their connections in the room, on every node. */
  devices: number;
}
/** The reply to `auth`. */
export interface AuthReply {
  /** JWT NumericDate (seconds since the epoch) of the new token. */
  exp: number;
}
/** The reply to `ping`: empty. */
export type PingReply = Record<string, never>;

/** The `data` of a successful reply, by request type. */
export interface ReplyDataMap {
  join: JoinReply;
  leave: LeaveReply;
  send: SendReply;
  edit: SendReply;
  delete: SendReply;
  react: SendReply;
  unreact: SendReply;
  typing: TypingReply;
  read: ReadReply;
  history: HistoryReply;
  presence: PresenceReply;
  occupancy: OccupancyReply;
  auth: AuthReply;
  ping: PingReply;
}

/** The `error` of a failed reply. */
export interface WireError {
  code: ErrorCode;
  message: string;
}

/** A `reply` frame: exactly one per request that carried a `rid`. */
export type ReplyFrame =
  | { t: 'reply'; rid: Rid; ok: true; data: unknown }
  | { t: 'reply'; rid: Rid; ok: false; error: WireError };

// ---- pushes (server → client) ----

/** `hello`: the first frame of an accepted connection. */
export interface HelloPush {
  t: 'hello';
  session: string;
  user: string;
  node: string;
  /** JWT NumericDate of the connection's token. */
  exp: number;
  /** Seconds between server pings. */
  heartbeat: number;
  /** The protocol version the server speaks (2; absent on version 1 servers). */
  protocol?: number;
}
/** `msg`: a new message in a joined room. */
export interface MsgPush extends ChatMessage {
  t: 'msg';
}
/** `presence`: a user came online or went offline in a room. */
export interface PresencePush {
  t: 'presence';
  room: string;
  user: string;
  status: 'online' | 'offline';
}
/** A big room's presence changes of one interval, each user by their final state; order within a list means nothing. */
export interface PresenceDeltaPush {
  t: 'presence_delta';
  room: string;
  online: string[];
  offline: string[];
}
/** `typing`: a user started or stopped typing. */
export interface TypingPush {
  t: 'typing';
  room: string;
  user: string;
  on: boolean;
}
/** `read`: a user's read pointer moved. */
export interface ReadPush {
  t: 'read';
  room: string;
  user: string;
  seq: number;
}
/** `error`: a problem with a frame that had no valid `rid`. */
export interface ErrorPush {
  t: 'error';
  code: ErrorCode;
  message: string;
}

/** Every push a server sends unasked. */
export type ServerPush = HelloPush | MsgPush | ChangePush | PresencePush | PresenceDeltaPush | TypingPush | ReadPush | ErrorPush;
/** Every frame a server sends. */
export type ServerFrame = ServerPush | ReplyFrame;

/** A push as delivered to event listeners: the frame without its `t`. */
export type PushPayload<P extends ServerPush> = Omit<P, 't'>;
