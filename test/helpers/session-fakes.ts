// What a Session needs around it in unit tests: a transport that records nothing, and the
// dependencies of a node with the test config, given its room service and event hooks.
import { Metrics } from '../../src/admin/metrics.js';
import { loadConfig } from '../../src/config/index.js';
import type { SessionDeps, SessionEvents } from '../../src/gateway/session-deps.js';
import type { PushFrame, Transport } from '../../src/gateway/transport.js';
import type { RoomModerationService } from '../../src/rooms/moderation-service.js';
import type { RoomService } from '../../src/rooms/room-service.js';
import { LogThrottle } from '../../src/shared/log-throttle.js';
import type { Logger } from '../../src/shared/logger.js';

export class FakeTransport implements Transport {
  readonly kind = 'ws';
  open = true;
  push(_frame: PushFrame): void {}
  subscribe(): void {}
  unsubscribe(): void {}
  setEphemeral(): void {}
  bufferedAmount(): number {
    return 0;
  }
  close(): void {
    this.open = false;
  }
  ping(): void {}
}

export function sessionDeps(rooms: RoomService, logger: Logger, events: Partial<SessionEvents> = {}): SessionDeps {
  const { config } = loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'unit-secret-that-is-at-least-32-bytes-long', LOG_LEVEL: 'silent' });
  return {
    rooms,
    moderation: {} as RoomModerationService,
    verify: () => Promise.reject(new Error('no tokens here')),
    limits: config.limits,
    metrics: new Metrics(false),
    logger,
    nodeId: 'n1',
    heartbeatS: 25,
    clockToleranceS: 0,
    failures: new LogThrottle(logger),
    events: { roomJoined: () => {}, roomLeft: () => {}, wrote: () => {}, renewed: () => {}, ...events },
  };
}
