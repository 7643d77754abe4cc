/**
 * Wire types of the Parley protocol v2 (docs/protocol.md) that requests, replies and pushes
 * share (request-types.ts, reply-types.ts, push-types.ts): error and close codes, request ids,
 * meta and the chat message. The SDK's own copy: `client/` imports nothing from the server, so
 * these are kept in step with docs/protocol.md by hand.
 */
import type { ReactionSummary, RepliesSummary } from './change-types.js';

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
