import type { PresenceMode } from '../rooms/ports.js';
import type { WireError } from '../shared/errors.js';

/** A push frame of docs/protocol.md, as an object with its `t`. */
export interface PushFrame {
  t: string;
  [field: string]: unknown;
}

export type ReplyResult = { ok: true; data: unknown } | { ok: false; error: WireError };

/**
 * Answers one request: a `reply` frame on /ws, the ack callback on Socket.IO. Returns the
 * length of the frame it wrote when it knows it (/ws), so that a large reply is not serialized
 * a second time to be counted.
 */
export type Respond = (result: ReplyResult) => number | void;

/**
 * One client connection as the session layer sees it. Each transport (native /ws,
 * Socket.IO) implements this once; everything above it is written once for both.
 */
export interface Transport {
  readonly kind: 'ws' | 'sio';
  /** False once the connection is closed: sends are then dropped silently. */
  readonly open: boolean;
  push(frame: PushFrame): void;
  /**
   * Subscribes to a room's messages and, unless `ephemeral` is off, its typing/presence pushes
   * as `presence` asks; again for a joined room: switches to that presence mode.
   */
  subscribe(room: string, presence: PresenceMode): void;
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
/** Typing, and presence changes of a room that is not batching: every member. */
export const ephemeralTopic = (room: string): string => `e:${room}`;
/** Presence changes of a batching room, one by one: the members in `each` mode. */
export const changesTopic = (room: string): string => `p:${room}`;
/** Presence deltas of a batching room: the members in `delta` mode. */
export const deltaTopic = (room: string): string => `d:${room}`;

/** The ephemeral channels (skipped by slow consumers) of a member in `mode`. */
export function ephemeralTopics(room: string, mode: PresenceMode): [string, string] {
  return [ephemeralTopic(room), mode === 'delta' ? deltaTopic(room) : changesTopic(room)];
}
