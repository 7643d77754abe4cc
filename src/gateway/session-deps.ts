import type { Limits } from '../config/index.js';
import type { RoomModerationService } from '../rooms/moderation-service.js';
import type { RoomService } from '../rooms/room-service.js';
import type { LogThrottle } from '../shared/log-throttle.js';
import type { Logger } from '../shared/logger.js';
import type { Identity } from './auth.js';
import type { GatewayMetrics } from './metrics.js';
import type { Session } from './session.js';

/** What a Session is given: the room service, the node's limits and identity, and where it reports. */
export interface SessionDeps {
  rooms: RoomService;
  /** What `moderate` requests of moderators (the token's `mod` claim) do. */
  moderation: RoomModerationService;
  verify: (token: string) => Promise<Identity>;
  limits: Limits;
  metrics: GatewayMetrics;
  logger: Logger;
  nodeId: string;
  heartbeatS: number;
  clockToleranceS: number;
  /** Where requests refused because a dependency failed are logged, throttled per kind. */
  failures: LogThrottle;
  events: SessionEvents;
}

/** What the gateway keeps indexed about a session, told as it changes. */
export interface SessionEvents {
  /** `room` was added to `joined` (a join began). */
  roomJoined(session: Session, room: string): void;
  /** `room` was removed from `joined` (a leave, or a join that failed). */
  roomLeft(session: Session, room: string): void;
  /** A frame was written to this session alone (a reply, `hello`, an `error`): its unsent buffer may have grown. */
  wrote(session: Session): void;
  /** The token was replaced (`auth`): the deadline of `deadlineMs` moved. */
  renewed(session: Session): void;
}
