/**
 * Wire types of the pushes a server sends unasked (docs/protocol.md, "Pushes from the server")
 * and of every server frame: the SDK's own copy, kept in step by hand like types.ts.
 */
import type { ChangePush } from './change-types.js';
import type { ReplyFrame } from './reply-types.js';
import type { ChatMessage, ErrorCode } from './types.js';

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
