import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { Server } from 'socket.io';
import { mountAdminApi } from './admin/admin-api.js';
import { mountDevToken, mountNotFound, mountWebRoot } from './admin/dev.js';
import { mountHealth, mountMetrics, type ReadinessCheck } from './admin/health.js';
import { Metrics } from './admin/metrics.js';
import type { Broadcast } from './bus/broadcast.js';
import type { DurableQueue } from './bus/durable-queue.js';
import type { Config } from './config/index.js';
import { AddressLimits } from './gateway/address-limits.js';
import { Admission } from './gateway/admission.js';
import { CorkAnchor } from './gateway/cork-anchor.js';
import { eraseUserMessages } from './rooms/erasure.js';
import { JoinQueue } from './rooms/join-queue.js';
import { Retention } from './domain/retention.js';
import { TokenVerifier } from './gateway/auth.js';
import { Fanout } from './gateway/fanout.js';
import { Gateway } from './gateway/gateway.js';
import { backpressureBackstop } from './gateway/native-endpoint.js';
import { SessionRegistry } from './gateway/registry.js';
import { ENGINE_CLOSE_GRACE_MS } from './gateway/engine-close.js';
import { allowSioHandshake } from './gateway/sio-handshakes.js';
import { listen, loadUws, type TemplatedApp, type us_listen_socket } from './gateway/uws.js';
import { breakerValue, HttpPublishHook } from './hooks/publish-hook.js';
import type { ErasableStore } from './persistence/erasable-store.js';
import type { MessageStore } from './persistence/message-store.js';
import { RoomModerationService } from './rooms/moderation-service.js';
import type { LocalDelivery } from './rooms/ports.js';
import { RoomService } from './rooms/room-service.js';
import type { AddressSlots } from './rooms/state/address-slots.js';
import type { Moderation } from './rooms/state/moderation.js';
import type { Presence } from './rooms/state/presence.js';
import type { RateLimiter } from './rooms/state/rate-limiter.js';
import type { RoomState } from './rooms/state/room-state.js';
import { CloseCode } from './shared/close-codes.js';
import { reaching, type Dependency } from './shared/dependency.js';
import type { Lifecycle } from './shared/lifecycle.js';
import { LogThrottle } from './shared/log-throttle.js';
import type { Logger } from './shared/logger.js';
import type { Tracer } from './shared/tracing.js';
import type { GatewayWebhooks } from './webhooks/gateway-webhooks.js';

/** The adapters behind the room service's ports, chosen by main.ts from the configuration. */
export interface Adapters {
  state: RoomState;
  presence: Presence;
  bus: Broadcast;
  queue: DurableQueue;
  store: MessageStore & ErasableStore;
  /** The rooms' restrictions, on the room state's storage. */
  moderation: Moderation;
  /** Fixed-window counters: MSG_RATE_PER_USER (beside the room state) and HANDSHAKES_PER_ADDRESS (beside presence). */
  limiters: { sends: RateLimiter; handshakes: RateLimiter };
  /** Open connections per client address; only while MAX_CONNS_PER_ADDRESS is set. */
  slots?: AddressSlots;
  /** Blanks a user's dedupe entries in the room state (an erasure: rooms/erasure.ts). */
  dedupe: { erase(user: string, room: string | undefined): Promise<number> };
  /** Work on timers over the adapters (the recent buffers' retention sweep): started after them, stopped before them. */
  timers?: { start(): void; close(): void }[];
  /** Readiness of each configured dependency. */
  checks: Record<string, ReadinessCheck>;
  /** Connections the adapters share: started before them, closed after them. */
  extra: Lifecycle[];
  /**
   * Socket.IO's adapter in cluster modes, installed once `extra` is connected (it subscribes
   * at once); its connections are in `extra`. Without it Socket.IO stays node-local.
   */
  sioAdapter?: Parameters<Server['adapter']>[0];
  /** Registers the adapters' own metrics (the queue stream's fill) on the node's registry. */
  instrument?: (registry: Registry) => void;
  /** The external service each component needs at start-up, so a failure names it (DependencyError). */
  dependencies?: ReadonlyMap<Lifecycle, Dependency>;
  /** With WEBHOOK_URL: presence events and the admin API's webhook routes; started after the queue. */
  webhooks?: GatewayWebhooks;
}

export { ListenError } from './gateway/uws.js';

const WEB_ROOT = fileURLToPath(new URL('../web/dist/', import.meta.url));
const INFLIGHT_WAIT_MS = 10_000;

/**
 * One gateway node: the uWS app with /ws, Socket.IO, admin, health and dev routes over the
 * given adapters. `start()` listens; `drain()` is the SIGTERM path; `close()` stops at once.
 * With `config.admin` (ADMIN_PORT) a second app on its own listener serves admin, metrics and
 * the dev token, so that the public port can be exposed as it is; health is on both.
 */
export class ParleyNode {
  readonly metrics = new Metrics();
  port = 0;
  /** The admin listener's port, once started with `config.admin`. */
  adminPort: number | undefined;
  private readonly uws = loadUws();
  private readonly app = this.uws.App();
  private readonly corkAnchor: CorkAnchor;
  private readonly adminApp: TemplatedApp | undefined;
  private readonly io: Server;
  private readonly admission: Admission;
  private readonly gateway: Gateway;
  private readonly rooms: RoomService;
  private readonly moderation: RoomModerationService;
  /** What starts after the adapters and closes before them: the hook's connections, the address slots. */
  private readonly own: Lifecycle[] = [];
  private listenSockets: us_listen_socket[] = [];
  private closed: Promise<void> | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly config: Config,
    private readonly adapters: Adapters,
    private readonly logger: Logger,
    /** Set while tracing is on (the SDK started by the caller). */
    tracer?: Tracer,
  ) {
    adapters.instrument?.(this.metrics.registry);
    this.corkAnchor = new CorkAnchor(this.uws, logger);
    if (config.admin) this.adminApp = this.uws.App();
    const verifier = new TokenVerifier(config.auth);
    const verify = (token: string) => verifier.verify(token);
    const registry = new SessionRegistry();
    // Presence brings this node's entries back to its open sessions after a fault.
    adapters.presence.trackLocal(registry);
    this.io = new Server({
      path: '/socket.io/',
      serveClient: false,
      maxHttpBufferSize: config.limits.maxFrameBytes,
      pingInterval: config.timing.heartbeatS * 1000,
      pingTimeout: config.timing.heartbeatS * 1000,
      cors: config.allowedOrigins.length > 0 ? { origin: config.allowedOrigins } : { origin: true },
      allowRequest: (req, callback) => allowSioHandshake(req, callback, this.admission, config.limits.maxTokenlessPerAddress),
    });
    // One queue for the work reconnecting clients bring: registration at upgrade, then joins.
    const joins = new JoinQueue({ concurrency: config.limits.joinConcurrency, maxWaiting: config.limits.joinQueueMax });
    const { policy } = config;
    const addresses = new AddressLimits(
      { trustProxy: policy.trustProxy, maxConns: policy.maxConnsPerAddress, ...(policy.handshakes ? { handshakes: policy.handshakes } : {}) },
      {
        ...(adapters.slots ? { slots: adapters.slots } : {}),
        limiter: adapters.limiters.handshakes,
        failures: new LogThrottle(logger),
        refused: (reason) => this.metrics.connectionsRefused.inc({ reason }),
      },
    );
    if (adapters.slots) this.own.push(adapters.slots);
    this.admission = new Admission(verify, adapters.presence, config.allowedOrigins, config.limits.maxConnsPerUser, logger, joins, addresses, tracer);
    const hook = config.hook && new HttpPublishHook(config.hook, config.limits, {
      called: (outcome, seconds) => {
        this.metrics.hookCalls.inc({ outcome });
        if (seconds !== undefined) this.metrics.hookLatency.observe(seconds);
      },
      breaker: (state) => this.metrics.hookBreaker.set(breakerValue(state)),
    }, logger);
    if (hook) this.own.push(hook);
    this.moderation = new RoomModerationService(adapters.moderation, adapters.bus);
    const { webhooks } = adapters;
    this.rooms = new RoomService({
      ...adapters,
      ...(hook ? { hook } : {}),
      limiter: adapters.limiters.sends,
      joins,
      ...(webhooks ? { presenceHook: (room: string, user: string, status: 'online' | 'offline', ts: number) => webhooks.presenceChanged(room, user, status, ts) } : {}),
      retention: new Retention(config.retention.ms),
      delivery: this.watchedDelivery(new Fanout(this.app, this.io, registry, this.metrics)),
      metrics: this.metrics,
      logger,
      ...(tracer ? { tracer } : {}),
      config: {
        nodeId: config.nodeId,
        dedupeTtlS: config.timing.dedupeTtlS,
        presenceGraceS: config.timing.presenceGraceS,
        typingTtlS: config.timing.typingTtlS,
        typingThrottleMs: config.timing.typingThrottleMs,
        presenceBatch: config.presenceBatch,
        recoveryMax: config.recoveryMax,
        recoveryMaxBytes: config.recoveryMaxBytes,
        ...(policy.userMessages ? { userMessages: policy.userMessages } : {}),
        reactions: config.reactions,
      },
    });
    this.gateway = new Gateway({ app: this.app, io: this.io, config, admission: this.admission, registry, rooms: this.rooms, moderation: this.moderation, bus: adapters.bus, verify, metrics: this.metrics, logger, corkAnchor: this.corkAnchor });
  }

  /** Local delivery that also tells the gateway which rooms were pushed to (its slow-consumer checks follow them). */
  private watchedDelivery(fanout: Fanout): LocalDelivery {
    return {
      deliver: (room, event) => {
        fanout.deliver(room, event);
        this.gateway.pushed(room);
      },
      presenceChange: (room, user, status) => {
        fanout.presenceChange(room, user, status);
        this.gateway.pushed(room);
      },
      presenceDelta: (delta) => {
        fanout.presenceDelta(delta);
        this.gateway.pushed(delta.room);
      },
      roomReset: (room) => fanout.roomReset(room),
    };
  }

  get draining(): boolean {
    return this.admission.draining;
  }

  async start(): Promise<number> {
    const { state, presence, bus, queue, store, checks, extra, webhooks } = this.adapters;
    for (const c of [...extra, state, presence, bus, store, queue, ...(webhooks ? [webhooks] : [])]) await reaching(this.adapters.dependencies?.get(c), () => c.start());
    for (const c of this.own) await reaching(this.adapters.dependencies?.get(c), () => c.start());
    // Before any socket connects. attachApp patches the base Adapter's prototype, which the
    // Redis adapter inherits, so its local broadcasts stay uWS topic publishes.
    for (const t of this.adapters.timers ?? []) t.start();
    if (this.adapters.sioAdapter) this.io.adapter(this.adapters.sioAdapter);
    this.rooms.start();
    // Socket.IO first: its routes must win over the dev page's catch-all.
    this.io.attachApp(this.app, { maxBackpressure: backpressureBackstop(this.config.limits.slowBytes, this.config.recoveryMaxBytes) } as Parameters<Server['attachApp']>[1]);
    this.gateway.start();
    const ops = this.adminApp ?? this.app;
    for (const app of this.adminApp ? [this.app, this.adminApp] : [this.app]) mountHealth({ app, checks, isDraining: () => this.draining });
    mountMetrics(ops, this.metrics.registry, this.logger);
    mountAdminApi({
      app: ops,
      adminToken: this.config.adminToken,
      nodeId: this.config.nodeId,
      startedAt: this.startedAt,
      rooms: this.rooms,
      moderation: this.moderation,
      state,
      presence,
      bus,
      limits: this.config.limits,
      logger: this.logger,
      erase: (user, room) => eraseUserMessages({ change: (r) => this.rooms.change(r), state, store, dedupe: this.adapters.dedupe, queue: queue.erase ? { erase: queue.erase.bind(queue) } : undefined, onlineRooms: async (u) => (await presence.user(u)).rooms, logger: this.logger }, user, room),
      ...(webhooks ? { webhooks: () => webhooks.admin } : {}),
    });
    mountDevToken(ops, this.config.devMode, this.config.auth.secret, this.logger);
    mountWebRoot(this.app, this.config.devMode, WEB_ROOT, this.logger);
    if (this.adminApp) {
      // What moved to the admin listener, and every other method and path, is 404 on the public one.
      mountNotFound(this.app);
      mountNotFound(this.adminApp);
    }
    await this.corkAnchor.start();
    const pub = await listen(this.uws, this.app, this.config.host, this.config.port, 'PORT');
    this.listenSockets.push(pub.socket);
    this.port = pub.port;
    if (this.adminApp && this.config.admin) {
      const admin = await listen(this.uws, this.adminApp, this.config.admin.host, this.config.admin.port, 'ADMIN_PORT');
      this.listenSockets.push(admin.socket);
      this.adminPort = admin.port;
    }
    return this.port;
  }

  /** SIGTERM: readiness 503 and no new upgrades, clients get 1001 after DRAIN_S, in-flight work finishes. */
  async drain(): Promise<void> {
    if (this.admission.draining) return this.close();
    this.admission.draining = true;
    this.logger.info({ drainS: this.config.timing.drainS }, 'draining');
    await new Promise((r) => setTimeout(r, this.config.timing.drainS * 1000));
    await this.gateway.closeAll(CloseCode.DRAINING, 'node is draining');
    // Long-polling clients collect their `bye` with their next poll: the listener stays open that long.
    await new Promise((r) => setTimeout(r, ENGINE_CLOSE_GRACE_MS));
    await this.close();
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.admission.draining = true;
    this.gateway.stopTimers();
    for (const socket of this.listenSockets) this.uws.us_listen_socket_close(socket);
    this.listenSockets = [];
    await Promise.race([this.gateway.closeAll(CloseCode.DRAINING, 'node is shutting down'), new Promise((r) => setTimeout(r, INFLIGHT_WAIT_MS).unref())]);
    this.rooms.close();
    this.corkAnchor.close();
    const { state, presence, bus, queue, store, extra, webhooks } = this.adapters;
    for (const t of this.adapters.timers ?? []) t.close();
    // Webhooks after presence: closing presence may still announce users offline.
    for (const c of [...this.own, queue, bus, presence, ...(webhooks ? [webhooks] : []), state, store, ...extra]) {
      await c.close().catch((err: unknown) => this.logger.error({ err }, 'closing an adapter failed'));
    }
  }
}
