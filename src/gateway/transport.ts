import type { WireError } from '../shared/errors.js';

/** A push frame of PROTOCOL.md, as an object with its `t`. */
export interface PushFrame {
  t: string;
  [field: string]: unknown;
}

export type ReplyResult = { ok: true; data: unknown } | { ok: false; error: WireError };

/** Answers one request: a `reply` frame on /ws, the ack callback on Socket.IO. */
export type Respond = (result: ReplyResult) => void;

/**
 * One client connection as the session layer sees it. Each transport (native /ws,
 * Socket.IO) implements this once; everything above it is written once for both.
 */
export interface Transport {
  readonly kind: 'ws' | 'sio';
  /** False once the connection is closed: sends are then dropped silently. */
  readonly open: boolean;
  push(frame: PushFrame): void;
  /** Subscribes to a room's messages and, unless `ephemeral` is off, its typing/presence pushes. */
  subscribe(room: string): void;
  unsubscribe(room: string): void;
  /** Slow-consumer conflation: stops or resumes typing and presence pushes for every joined room. */
  setEphemeral(rooms: Iterable<string>, on: boolean): void;
  bufferedAmount(): number;
  /** Closes with a protocol close code (Socket.IO gets a `bye` push first). */
  close(code: number, reason: string): void;
  ping(): void;
}

/**
 * uWS topic and Socket.IO room names of a room's channels. `/ws` clients that accept batched
 * frames take the main channel's pushes from the batch topic instead, one frame per turn.
 */
export const mainTopic = (room: string): string => `m:${room}`;
export const batchTopic = (room: string): string => `b:${room}`;
export const ephemeralTopic = (room: string): string => `e:${room}`;
