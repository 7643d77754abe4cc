/**
 * `@parley-chat/client`: the TypeScript SDK of the Parley protocol (docs/protocol.md) over native
 * WebSocket, for browsers and Node. It imports nothing from the server.
 *
 * @packageDocumentation
 */
import { ParleyClient } from './client.js';
import type { ClientOptions } from './options.js';
import type { AuthSource } from './token.js';

/**
 * Connects to a Parley server: `url` is its base (`wss://chat.example.com`) or its `/ws`
 * endpoint. Returns at once, in state `connecting`; requests made before the connection is
 * ready wait for it (within the request timeout).
 */
export function connect(url: string, auth: AuthSource, options?: ClientOptions): ParleyClient {
  return new ParleyClient(url, auth, options);
}

export { ParleyClient } from './client.js';
export type { JoinOptions } from './client.js';
export { ParleyClientError } from './errors.js';
export type { ClientErrorCode } from './errors.js';
export type {
  ClientState,
  ClosedEvent,
  GapEvent,
  Hello,
  ParleyEvents,
  PresenceDeltaEvent,
  PresenceEvent,
  ReadEvent,
  ReconnectEvent,
  RejoinFailedEvent,
  ServerErrorEvent,
  TypingEvent,
} from './events.js';
export type { ClientOptions } from './options.js';
export type { AuthSource } from './token.js';
export type { RoomEvent, RoomPosition } from './rooms.js';
export type { Clock } from './timers.js';
export type { FetchLike, WebSocketConstructor, WebSocketLike } from './transport.js';
export type { Listener } from './emitter.js';
export { backoffDelay, closeAction, DEFAULT_BACKOFF } from './backoff.js';
export type { BackoffOptions, CloseAction } from './backoff.js';
export { refreshDelay } from './token.js';
export { newCid } from './outbox.js';
export { applyChange, applyReply, newerCopy } from './summaries.js';
export { CloseCode, ERROR_CODES } from './types.js';
export type * from './types.js';
export type * from './request-types.js';
export type * from './reply-types.js';
export type * from './push-types.js';
export type * from './change-types.js';
