import type { HookConfig, PolicyConfig } from './policy.js';
import type { Env, JwtAlgorithm } from './schema.js';
import type { TracingConfig } from './tracing.js';
import type { WebhookConfig } from './webhooks.js';

export interface AuthConfig {
  /** HS* shared secret (bytes). */
  secret?: Uint8Array;
  /** PEM SPKI public key for RS/PS/ES/EdDSA. */
  publicKeyPem?: string;
  jwksUrl?: string;
  algorithms: JwtAlgorithm[];
  issuer?: string;
  audience?: string;
  clockToleranceS: number;
  defaultRooms: string[];
}

export interface Limits {
  maxFrameBytes: number;
  maxBodyBytes: number;
  maxMetaBytes: number;
  /** MAX_REACTION_BYTES: longest `reaction` of `react` and `unreact`. */
  maxReactionBytes: number;
  ratePerS: number;
  rateBurst: number;
  maxBadFrames: number;
  maxRoomsPerConn: number;
  maxConnsPerUser: number;
  /** Socket.IO (engine.io) sessions per client address that have not presented a valid token yet. */
  maxTokenlessPerAddress: number;
  slowBytes: number;
  /** JOIN_CONCURRENCY and JOIN_QUEUE_MAX: the join queue (rooms/join-queue.ts). */
  joinConcurrency: number;
  joinQueueMax: number;
}

export interface Timing {
  dedupeTtlS: number;
  presenceGraceS: number;
  typingTtlS: number;
  /** At most one `typing on` push per user and room per this many ms (0: every request pushes). */
  typingThrottleMs: number;
  heartbeatS: number;
  drainS: number;
  nodeTtlS: number;
}

export interface Config {
  env: Env['NODE_ENV'];
  port: number;
  host: string;
  /**
   * The operations listener (ADMIN_PORT): a gateway serves `/admin/*`, `/metrics` and `/dev/*`
   * there instead of on `port`, health on both; a worker serves health and metrics there.
   * Unset: a gateway serves everything on `port`, a worker serves no HTTP.
   */
  admin?: { host: string; port: number };
  nodeId: string;
  logLevel: Env['LOG_LEVEL'];
  devMode: boolean;
  auth: AuthConfig;
  adminToken?: string;
  allowedOrigins: string[];
  limits: Limits;
  timing: Timing;
  /** Rooms with more users online than `above` send opted-in members one presence delta per `intervalMs`. */
  presenceBatch: { above: number; intervalMs: number };
  recoveryMax: number;
  /** Most bytes of a serialized reply frame that carries messages (`join` with `since`, `history`). */
  recoveryMaxBytes: number;
  recentMax: number;
  storeMaxPerRoom: number;
  /** MAX_REACTIONS_PER_MESSAGE and REACTION_USERS_SHOWN. */
  reactions: { kindsPerMessage: number; usersShown: number };
  redisUrl?: string;
  redisClusterNodes: string[];
  /** The NATS servers (NATS_URL): one, or several of one cluster; undefined when unset. */
  natsServers?: string[];
  bus: 'memory' | 'redis' | 'nats';
  mongodbUrl?: string;
  keyPrefix: string;
  maxDeliver: number;
  /**
   * JetStream limits of the deployment's queue stream (its dead-letter stream gets a quarter, at
   * most 256 MiB), and the replicas of both streams.
   */
  queue: { maxBytes: number; maxAgeS: number; replicas: number };
  /** RETENTION_DAYS in ms (0: messages are kept for good) and RETENTION_SWEEP_S in ms: docs/operations.md, "Retention and erasure". */
  retention: { ms: number; sweepMs: number };
  /** OpenTelemetry tracing (OTEL_* variables); undefined while it is off, the default. */
  tracing?: TracingConfig;
  /** Webhooks (WEBHOOK_* variables); undefined while WEBHOOK_URL is unset. */
  webhooks?: WebhookConfig;
  /** Limits per client address and per user that hold across the cluster. */
  policy: PolicyConfig;
  /** The before-publish hook (HOOK_*), undefined while HOOK_PUBLISH_URL is unset. */
  hook?: HookConfig;
}
