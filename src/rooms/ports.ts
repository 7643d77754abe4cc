import type { RoomEvent } from '../domain/events.js';
import type { PresenceDelta, PresenceStatus } from '../domain/presence.js';

/**
 * How a connection takes a room's presence: `each` (protocol v1: one `presence` push per
 * change, in every room) or `delta` (opted in at `join`: one `presence_delta` per interval in
 * rooms above PRESENCE_BATCH_ABOVE, `presence` pushes in smaller ones).
 */
export type PresenceMode = 'each' | 'delta';

/** A local connection as the room service sees it: who it is, and its room subscription. */
export interface LocalConnection {
  readonly connId: string;
  readonly user: string;
  /** Starts local delivery of the room's events to this connection (again: switches its presence mode). */
  subscribe(room: string, presence: PresenceMode): void;
  unsubscribe(room: string): void;
}

/** Delivers a room event to this node's connections subscribed to the room (implemented by the gateway). */
export interface LocalDelivery {
  /** A `presence` event here goes to every member connection: the room is not batching. */
  deliver(room: string, event: RoomEvent): void;
  /** A change in a batching room: pushed at once as `presence`, only to `each` connections. */
  presenceChange(room: string, user: string, status: PresenceStatus): void;
  /** A batching room's changes of one interval: one `presence_delta`, only to `delta` connections. */
  presenceDelta(delta: PresenceDelta): void;
  /**
   * The room's state was lost and its seqs started again: this node's members of the room hold
   * positions that no longer line up, so they must reconnect and rejoin.
   */
  roomReset(room: string): void;
}

export interface RoomMetrics {
  messageAccepted(dup: boolean): void;
  /** A client's send refused by a limit, a restriction or the publish hook, by error code. */
  sendRefused(code: string): void;
  gapHealed(room: string): void;
}

export interface RoomsConfig {
  nodeId: string;
  dedupeTtlS: number;
  presenceGraceS: number;
  typingTtlS: number;
  /** TYPING_THROTTLE_MS: at most one `typing on` push per user and room per this many ms (0: no throttle). */
  typingThrottleMs: number;
  /** PRESENCE_BATCH_ABOVE and PRESENCE_BATCH_MS. */
  presenceBatch: { above: number; intervalMs: number };
  recoveryMax: number;
  /** RECOVERY_MAX_BYTES: most bytes of a serialized reply frame that carries messages. */
  recoveryMaxBytes: number;
  /** MSG_RATE_PER_USER per MSG_RATE_WINDOW_S, when set. */
  userMessages?: { limit: number; windowMs: number };
  /** MAX_REACTIONS_PER_MESSAGE and REACTION_USERS_SHOWN. */
  reactions: { kindsPerMessage: number; usersShown: number };
}

/** A message to send, as a client or the admin API gives it. */
export interface SendInput {
  room: string;
  from: string;
  cid: string;
  body: string;
  meta?: Record<string, unknown>;
  /** A reply in the thread of this message. */
  parent?: number;
}

/**
 * A client's message as the before-publish hook sees it (docs/hooks.md): a `send`, or an `edit`
 * of the message at seq `target`; `parent` is the seq a reply in a thread names.
 */
export interface PublishCheck extends SendInput {
  op: 'send' | 'edit';
  target?: number;
}

/** What to store: the message as it came (`accept`), or as the hook changed it (`modify`). */
export type PublishVerdict = { action: 'accept' } | { action: 'modify'; body: string; meta: Record<string, unknown> | undefined };

/**
 * Moderation before a client's message takes a seq (HOOK_PUBLISH_URL). `check` resolves with the
 * verdict, or rejects with ParleyError `rejected` (the hook refused the message) or `overloaded`
 * (the hook failed and HOOK_FAIL is closed); with HOOK_FAIL open a failed hook accepts.
 */
export interface PublishHook {
  check(message: PublishCheck): Promise<PublishVerdict>;
}
