import type { Server } from 'socket.io';
import type { Metrics } from '../admin/metrics.js';
import type { Config } from '../config/index.js';
import type { Broadcast } from '../bus/broadcast.js';
import type { RoomService } from '../rooms/room-service.js';
import type { ControlEvent } from '../rooms/types.js';
import { CloseCode } from '../shared/close-codes.js';
import { LogThrottle } from '../shared/log-throttle.js';
import type { Logger } from '../shared/logger.js';
import type { Admission } from './admission.js';
import type { Identity } from './auth.js';
import type { CorkAnchor } from './cork-anchor.js';
import { mountNativeEndpoint, replyAllowance } from './native-endpoint.js';
import { NativeTransport } from './native-transport.js';
import type { SessionRegistry } from './registry.js';
import { Session, type SessionDeps } from './session.js';
import { mountSioEndpoint } from './sio-endpoint.js';
import type { Transport } from './transport.js';
import type { TemplatedApp } from './uws.js';

export interface GatewayDeps {
  app: TemplatedApp;
  io: Server;
  config: Config;
  admission: Admission;
  registry: SessionRegistry;
  rooms: RoomService;
  bus: Broadcast;
  verify: (token: string) => Promise<Identity>;
  metrics: Metrics;
  logger: Logger;
  /** Lets /ws upgrade after its async admission inside a corked callback. */
  corkAnchor: CorkAnchor;
}

/** How often every session is checked for token expiry (4001) and slow consumption (4029). */
const SWEEP_MS = 100;

/**
 * The client-facing side of a node: both endpoints, the session registry, heartbeats, the
 * slow-consumer sweep, cluster-wide disconnects and draining.
 */
export class Gateway {
  private heartbeat: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly sessionDeps: SessionDeps;
  private readonly disposing = new Set<Promise<void>>();

  constructor(private readonly deps: GatewayDeps) {
    const { config, rooms, verify, metrics, logger } = deps;
    this.sessionDeps = {
      rooms,
      verify,
      limits: config.limits,
      metrics,
      logger,
      nodeId: config.nodeId,
      heartbeatS: config.timing.heartbeatS,
      clockToleranceS: config.auth.clockToleranceS,
      failures: new LogThrottle(logger),
    };
  }

  start(): void {
    const { app, io, admission, config, logger, bus, corkAnchor } = this.deps;
    const hooks = {
      opened: (connId: string, identity: Identity, transport: Transport) => this.opened(connId, identity, transport),
      closed: (session: Session, code: number) => this.closed(session, code),
      slowCheck: (session: Session) => this.slowCheck(session),
    };
    mountNativeEndpoint(app, admission, config.limits, hooks, logger, config.recoveryMaxBytes, corkAnchor);
    mountSioEndpoint(io, admission, config.limits, hooks);
    bus.onControl((event) => this.onControl(event));
    this.heartbeat = setInterval(() => this.beat(), config.timing.heartbeatS * 1000);
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.heartbeat.unref();
    this.sweepTimer.unref();
  }

  /** Closes every client with `code`, then waits until their sessions have left their rooms. */
  async closeAll(code: number, reason?: string): Promise<void> {
    for (const s of [...this.deps.registry.all()]) s.close(code, reason);
    await Promise.all([...this.disposing]);
  }

  stopTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.heartbeat = this.sweepTimer = undefined;
  }

  /** Closes this node's connections of `user`; returns how many. */
  disconnectLocal(user: string, code: number, reason: string): number {
    const sessions = this.deps.registry.forUser(user);
    for (const s of sessions) s.close(code, reason);
    return sessions.length;
  }

  private opened(connId: string, identity: Identity, transport: Transport): Session {
    const session = new Session(connId, transport, identity, this.sessionDeps);
    this.deps.registry.add(session);
    this.deps.metrics.connections.inc({ transport: transport.kind });
    this.deps.logger.debug({ conn: connId, user: identity.user, transport: transport.kind }, 'connection opened');
    session.start();
    return session;
  }

  private closed(session: Session, code: number): void {
    const { registry, metrics, admission } = this.deps;
    if (!registry.get(session.connId)) return;
    registry.remove(session);
    metrics.connections.dec({ transport: session.transport.kind });
    metrics.closes.inc({ code: String(session.closeCode ?? code) });
    this.deps.logger.debug({ conn: session.connId, user: session.user, transport: session.transport.kind, code: session.closeCode ?? code }, 'connection closed');
    const done = (async () => {
      await session.dispose();
      await admission.release(session.user, session.connId);
    })();
    this.disposing.add(done);
    void done.finally(() => this.disposing.delete(done));
  }

  private onControl(event: ControlEvent): void {
    if (event.kind === 'disconnect') this.disconnectLocal(event.user, event.code, event.reason);
  }

  /** Pings native clients; drops those silent for two heartbeats (Socket.IO has engine.io's own). */
  private beat(): void {
    const deadline = Date.now() - 2 * this.deps.config.timing.heartbeatS * 1000;
    for (const s of this.deps.registry.all()) {
      if (!(s.transport instanceof NativeTransport)) continue;
      if (s.lastSeen < deadline) s.transport.terminate();
      else s.transport.ping();
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.deps.registry.all()) {
      if (s.expired(now)) s.close(CloseCode.UNAUTHORIZED, 'token expired');
      else this.slowCheck(s);
    }
  }

  /** Slow consumers: past SLOW_BYTES no typing/presence pushes, past twice that close with 4029. */
  private slowCheck(session: Session): void {
    const { slowBytes } = this.deps.config.limits;
    const buffered = session.transport.bufferedAmount();
    const registry = this.deps.registry;
    // Replies the client asked for do not make it slow: only what is queued beyond them does
    // (the buffer drains oldest first, so what is left of them is at most what is buffered).
    const replies = session.settleReplyBacklog(buffered);
    if (buffered - replies > 2 * slowBytes || replies > replyAllowance(this.deps.config.recoveryMaxBytes)) {
      session.close(CloseCode.SLOW_CONSUMER);
    } else if (!session.slow && buffered > slowBytes) {
      session.slow = true;
      registry.slow.add(session);
      session.transport.setEphemeral(session.joined.keys(), false);
    } else if (session.slow && buffered <= slowBytes / 2) {
      session.slow = false;
      registry.slow.delete(session);
      session.transport.setEphemeral(session.joined.keys(), true);
    }
  }
}
