/**
 * Wire types of replies (docs/protocol.md, "Requests and replies"): the reply frame and the
 * `data` of each request's reply. The SDK's own copy, kept in step by hand like types.ts.
 */
import type { Change } from './change-types.js';
import type { ChatMessage, ErrorCode, Rid } from './types.js';

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
