import type { Server } from 'socket.io';
import type { Config } from '../config/index.js';
import type { Broadcast } from '../bus/broadcast.js';
import type { RoomModerationService } from '../rooms/moderation-service.js';
import type { RoomService } from '../rooms/room-service.js';
import type { ControlEvent } from '../domain/events.js';
import { CloseCode } from '../shared/close-codes.js';
import { LogThrottle } from '../shared/log-throttle.js';
import type { Logger } from '../shared/logger.js';
import type { Admission } from './admission.js';
import type { Identity } from './auth.js';
import type { CorkAnchor } from './cork-anchor.js';
import { mountNativeEndpoint, replyAllowance } from './native-endpoint.js';
import { NativeTransport } from './native-transport.js';
import { DeadlineTimer } from './expiry-buckets.js';
import { HeartbeatSlots } from './heartbeat-slots.js';
import type { GatewayMetrics } from './metrics.js';
import type { SessionRegistry } from './registry.js';
import { Session } from './session.js';
import type { SessionDeps } from './session-deps.js';
import { SlowChecks } from './slow-checks.js';
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
  moderation: RoomModerationService;
  bus: Broadcast;
  verify: (token: string) => Promise<Identity>;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Lets /ws upgrade after its async admission inside a corked callback. */
  corkAnchor: CorkAnchor;
}

/** How long after a write to a session its buffer is checked (4029), and how often while it has a backlog. */
const SLOW_CHECK_MS = 100;

/**
 * The client-facing side of a node: both endpoints, the session registry, heartbeats, token
 * expiry, the slow-consumer checks, cluster-wide disconnects and draining. Its periodic work
 * scales with activity, not with connections: token deadlines sit in buckets by second, the
 * slow-consumer checks run on the sessions written to (see SlowChecks), and heartbeats visit
 * one slot of the native sessions per tick (see HeartbeatSlots).
 */
export class Gateway {
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly sessionDeps: SessionDeps;
  private readonly disposing = new Set<Promise<void>>();
  private readonly deadlines = new DeadlineTimer<Session>((session, now) => {
    if (session.expired(now)) session.close(CloseCode.UNAUTHORIZED, 'token expired');
    else this.schedule(session);
  });
  private readonly pinged: HeartbeatSlots<Session>;
  private readonly slowChecks: SlowChecks<Session>;

  constructor(private readonly deps: GatewayDeps) {
    const { config, rooms, verify, metrics, logger, registry } = deps;
    const periodMs = config.timing.heartbeatS * 1000;
    this.pinged = new HeartbeatSlots(HeartbeatSlots.countFor(periodMs), periodMs, Date.now());
    this.slowChecks = new SlowChecks({
      delayMs: SLOW_CHECK_MS,
      membersOf: (room) => registry.inRoom(room),
      check: (session) => this.slowCheck(session),
    });
    this.sessionDeps = {
      rooms,
      moderation: deps.moderation,
      verify,
      limits: config.limits,
      metrics,
      logger,
      nodeId: config.nodeId,
      heartbeatS: config.timing.heartbeatS,
      clockToleranceS: config.auth.clockToleranceS,
      failures: new LogThrottle(logger),
      events: {
        roomJoined: (session, room) => registry.roomJoined(session, room),
        roomLeft: (session, room) => registry.roomLeft(session, room),
        wrote: (session) => this.slowChecks.sessionWritten(session),
        renewed: (session) => this.schedule(session),
      },
    };
  }

  start(): void {
    const { app, io, admission, config, logger, bus, corkAnchor } = this.deps;
    const hooks = {
      opened: (connId: string, identity: Identity, transport: Transport) => this.opened(connId, identity, transport),
      closed: (session: Session, code: number) => this.closed(session, code),
      drained: (session: Session) => this.slowChecks.checkNow(session),
    };
    mountNativeEndpoint(app, admission, config.limits, hooks, logger, config.recoveryMaxBytes, corkAnchor);
    mountSioEndpoint(io, admission, config.limits, hooks);
    bus.onControl((event) => this.onControl(event));
    this.heartbeat = setInterval(() => this.beat(), (config.timing.heartbeatS * 1000) / this.pinged.count);
    this.heartbeat.unref();
  }

  /** Something was pushed to the room's members on this node: their buffers are checked. */
  pushed(room: string): void {
    this.slowChecks.roomWritten(room);
  }

  /** Closes every client with `code`, then waits until their sessions have left their rooms. */
  async closeAll(code: number, reason?: string): Promise<void> {
    for (const s of [...this.deps.registry.all()]) s.close(code, reason);
    await Promise.all([...this.disposing]);
  }

  stopTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.deadlines.close();
    this.slowChecks.close();
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
    this.schedule(session);
    // Socket.IO sessions have engine.io's heartbeat.
    if (transport instanceof NativeTransport) this.pinged.add(session);
    session.start();
    return session;
  }

  private closed(session: Session, code: number): void {
    const { registry, metrics, admission } = this.deps;
    if (!registry.get(session.connId)) return;
    registry.remove(session);
    this.deadlines.drop(session);
    this.pinged.remove(session);
    this.slowChecks.forget(session);
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
    else if (event.kind === 'moderation') for (const s of this.deps.registry.forUser(event.user)) s.moderated(event.room, event.action, event.until);
  }

  /**
   * The slots of native sessions now due: pings them, or drops those silent for two heartbeats.
   * Each session is visited once per heartbeat period (by the clock, however late the timer
   * fires), so it is pinged every `heartbeat` seconds and dropped between two and three
   * periods after it last sent anything.
   */
  private beat(): void {
    const now = Date.now();
    const deadline = now - 2 * this.deps.config.timing.heartbeatS * 1000;
    for (const slot of this.pinged.due(now)) {
      for (const s of slot) {
        if (!(s.transport instanceof NativeTransport)) continue;
        if (s.lastSeen < deadline) s.transport.terminate();
        else s.transport.ping();
      }
    }
  }

  /** (Re)files the session's token deadline: at open and after each `auth`. */
  private schedule(session: Session): void {
    if (this.deps.registry.get(session.connId) === session) this.deadlines.file(session, session.deadlineMs);
  }

  /**
   * Slow consumers: past SLOW_BYTES no typing/presence pushes, past twice that close with 4029.
   * True while the session has unsent bytes (SlowChecks looks again until they drain).
   */
  private slowCheck(session: Session): boolean {
    if (!session.transport.open) return false;
    const { slowBytes } = this.deps.config.limits;
    const buffered = session.transport.bufferedAmount();
    const registry = this.deps.registry;
    // Replies the client asked for do not make it slow: only what is queued beyond them does
    // (the buffer drains oldest first, so what is left of them is at most what is buffered).
    const replies = session.settleReplyBacklog(buffered);
    if (buffered - replies > 2 * slowBytes || replies > replyAllowance(this.deps.config.recoveryMaxBytes)) {
      session.close(CloseCode.SLOW_CONSUMER);
      return false;
    } else if (!session.slow && buffered > slowBytes) {
      session.slow = true;
      registry.slow.add(session);
      session.transport.setEphemeral(session.joined.keys(), false);
    } else if (session.slow && buffered <= slowBytes / 2) {
      session.slow = false;
      registry.slow.delete(session);
      session.transport.setEphemeral(session.joined.keys(), true);
    }
    return buffered > 0;
  }
}
