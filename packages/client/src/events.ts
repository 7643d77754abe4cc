import type { ParleyClientError } from './errors.js';
import type { GapEvent } from './rooms.js';
import type { Change } from './change-types.js';
import type { ErrorPush, HelloPush, PresenceDeltaPush, PresencePush, PushPayload, ReadPush, TypingPush } from './push-types.js';
import type { ChatMessage } from './types.js';

/**
 * - `connecting`: before the first `hello` (a failed first attempt retries in this state);
 * - `open`: a `hello` arrived on the current connection;
 * - `reconnecting`: the connection dropped after having been open; a new one is on its way;
 * - `closed`: for good, by `close()` or a close code that forbids reconnecting.
 */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The `hello` of a connection (without `t`): session id, user, node, token `exp`, heartbeat. */
export type Hello = PushPayload<HelloPush>;
/** One user came online or went offline in a room. */
export type PresenceEvent = PushPayload<PresencePush>;
/** A big room's presence changes of one interval (`presence_delta` without `t`). */
export type PresenceDeltaEvent = PushPayload<PresenceDeltaPush>;
/** A user started or stopped typing in a room. */
export type TypingEvent = PushPayload<TypingPush>;
/** A user's read pointer in a room moved to `seq`. */
export type ReadEvent = PushPayload<ReadPush>;
/** An `error` push (without `t`): a protocol error code and a message. */
export type ServerErrorEvent = PushPayload<ErrorPush>;

/** A connection closed. `code` 4000 is the client's own: no `hello`, or no frame for 2x heartbeat. */
export interface ClosedEvent {
  code: number;
  reason: string;
  willReconnect: boolean;
}

/** A reconnect was scheduled `delay` ms from now; `error` is why the last attempt failed, if it threw. */
export interface ReconnectEvent {
  attempt: number;
  delay: number;
  error?: unknown;
}

/** A room could not be rejoined after a reconnect (e.g. `forbidden`): the client is no longer in it. */
export interface RejoinFailedEvent {
  room: string;
  error: ParleyClientError;
}

export type { GapEvent };

/** Every event of `ParleyClient`, by name. Pushes come without their `t`. */
export interface ParleyEvents {
  hello: Hello;
  /** Each message once, in seq order per room: live pushes and messages recovered by a rejoin. */
  msg: ChatMessage;
  /**
   * Each change (edit, delete, reaction) once, in seq order with the messages: live pushes and
   * changes recovered by a rejoin. Apply it to a held message with `applyChange`.
   */
  change: Change;
  /**
   * One user came online or went offline in a room: from a `presence` push, or once per user of
   * a `presence_delta` (whose users come first online, then offline).
   */
  presence: PresenceEvent;
  /** A big room's `presence_delta` as it came, for applications that apply a batch at once (it also fires `presence` per user). */
  presenceDelta: PresenceDeltaEvent;
  typing: TypingEvent;
  read: ReadEvent;
  /** An `error` push: a problem with a frame that had no valid rid. */
  error: ServerErrorEvent;
  state: ClientState;
  gap: GapEvent;
  close: ClosedEvent;
  reconnect: ReconnectEvent;
  rejoinFailed: RejoinFailedEvent;
}
