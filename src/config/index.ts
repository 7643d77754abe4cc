import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { authConfig } from './auth.js';
import { ConfigError } from './config-error.js';
import { generateDevSecrets, type DevSecrets, type DevSecretsSource } from './dev-secrets.js';
import { envSchema, type Env } from './schema.js';
import { hookConfig, policyConfig } from './policy.js';
import { tracingConfig } from './tracing.js';
import type { Config } from './types.js';
import { webhookConfig } from './webhooks.js';

export { ConfigError } from './config-error.js';
export type { AuthConfig, Config, Limits, Timing } from './types.js';
export { envSchema, JWT_ALGORITHMS, type JwtAlgorithm } from './schema.js';
export { fileDevSecrets, type DevSecrets, type DevSecretsSource } from './dev-secrets.js';
export type { TracingConfig } from './tracing.js';
export type { WebhookConfig } from './webhooks.js';
export type { HookConfig, PolicyConfig, WindowLimit } from './policy.js';

/**
 * The smallest RECOVERY_MAX_BYTES under which one message always fits a reply: a body of
 * MAX_BODY_BYTES that JSON escapes to six bytes per byte (control characters), 1024 bytes of
 * meta, the other fields at their longest (a 128-char `from` escaped, room, cid, seq, ts: about
 * 2 KB), and the reply frame around it (a 64-char `rid` escaped, the join fields: under 1 KB);
 * plus the message's summary at its longest (docs/protocol.md, "Summaries"): every kind of
 * reaction, escaped, with its users shown (128-char ids escaped), the last reply's sender, and
 * the version, tombstone and changed fields.
 */
export function minRecoveryMaxBytes(maxBodyBytes: number, reactions: { maxReactionBytes: number; kindsPerMessage: number; usersShown: number }): number {
  const perKind = 6 * reactions.maxReactionBytes + 40 + reactions.usersShown * (6 * 128 + 3);
  return 6 * maxBodyBytes + 4096 + 1100 + reactions.kindsPerMessage * perKind;
}

export interface LoadedConfig {
  config: Config;
  /** Present only in dev mode, for values that came from the dev secrets rather than the environment. */
  generated?: Partial<DevSecrets>;
  /** Dev mode with a `devSecrets` source: the DEV_SECRETS_FILE it was given. */
  devSecretsFile?: string;
}

export interface LoadOptions {
  role?: 'gateway' | 'worker';
  /**
   * Where dev mode takes the secrets that are not configured (the CLI: the DEV_SECRETS_FILE);
   * without it they are generated afresh. Never called outside dev mode.
   */
  devSecrets?: DevSecretsSource;
}

/**
 * Reads and validates `env`; throws ConfigError naming the first bad variable. A `worker`
 * serves no clients: it needs no JWT key and never runs in dev mode.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, opts: LoadOptions = {}): LoadedConfig {
  const worker = opts.role === 'worker';
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(variable, issue?.message ?? 'invalid value');
  }
  const e = parsed.data;
  const keyConfigured = e.JWT_SECRET !== undefined || e.JWT_PUBLIC_KEY !== undefined || e.JWT_JWKS_URL !== undefined;
  const devMode = worker ? false : e.DEV_MODE === 'auto' ? !keyConfigured : ['true', '1', 'yes'].includes(e.DEV_MODE);

  if (devMode && e.NODE_ENV === 'production') {
    throw new ConfigError(
      e.DEV_MODE === 'auto' ? 'JWT_SECRET' : 'DEV_MODE',
      'dev mode is refused when NODE_ENV=production: configure JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL',
    );
  }
  if (!devMode && !keyConfigured && !worker) {
    throw new ConfigError('JWT_SECRET', 'one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required outside dev mode');
  }
  if (e.JWT_PUBLIC_KEY !== undefined && e.JWT_JWKS_URL !== undefined) {
    throw new ConfigError('JWT_JWKS_URL', 'set either JWT_PUBLIC_KEY or JWT_JWKS_URL, not both');
  }

  const generated: Partial<DevSecrets> = {};
  const dev = devMode && (!keyConfigured || e.ADMIN_TOKEN === undefined) ? devSecrets(e, opts.devSecrets) : undefined;
  let secret = e.JWT_SECRET;
  if (dev && !keyConfigured) {
    secret = dev.jwtSecret;
    generated.jwtSecret = secret;
  }
  let adminToken = e.ADMIN_TOKEN;
  if (dev && adminToken === undefined) {
    adminToken = dev.adminToken;
    generated.adminToken = adminToken;
  }

  const auth = authConfig(e, secret, devMode);
  if (e.RATE_BURST < e.RATE_PER_S) {
    throw new ConfigError('RATE_BURST', `must be at least RATE_PER_S (${e.RATE_PER_S})`);
  }
  if (e.MAX_BODY_BYTES >= e.MAX_FRAME_BYTES) {
    throw new ConfigError('MAX_BODY_BYTES', `must be below MAX_FRAME_BYTES (${e.MAX_FRAME_BYTES})`);
  }
  const replyFloor = minRecoveryMaxBytes(e.MAX_BODY_BYTES, { maxReactionBytes: e.MAX_REACTION_BYTES, kindsPerMessage: e.MAX_REACTIONS_PER_MESSAGE, usersShown: e.REACTION_USERS_SHOWN });
  if (e.RECOVERY_MAX_BYTES < replyFloor) {
    throw new ConfigError(
      'RECOVERY_MAX_BYTES',
      `must be at least ${replyFloor} (6 * MAX_BODY_BYTES + 4096, plus a message summary at its longest: MAX_REACTIONS_PER_MESSAGE * (6 * MAX_REACTION_BYTES + 40 + REACTION_USERS_SHOWN * 771) + 1100), so that a reply always fits one message`,
    );
  }
  const bus = resolveBus(e);
  if (e.ADMIN_HOST !== undefined && e.ADMIN_PORT === undefined) throw new ConfigError('ADMIN_HOST', 'needs ADMIN_PORT');
  // Port 0 asks the system for a free port, so PORT=0 and ADMIN_PORT=0 still get two listeners.
  if (!worker && e.ADMIN_PORT !== undefined && e.ADMIN_PORT !== 0 && e.ADMIN_PORT === e.PORT) {
    throw new ConfigError('ADMIN_PORT', `must differ from PORT (${e.PORT})`);
  }

  const host = e.HOST ?? (devMode ? '127.0.0.1' : '0.0.0.0');
  const tracing = tracingConfig(e, worker ? 'worker' : 'gateway');
  const webhooks = webhookConfig(e, (variable, message) => new ConfigError(variable, message));
  const hook = hookConfig(e);
  const config: Config = {
    env: e.NODE_ENV,
    port: e.PORT,
    host,
    ...(e.ADMIN_PORT !== undefined ? { admin: { host: e.ADMIN_HOST ?? host, port: e.ADMIN_PORT } } : {}),
    nodeId: e.NODE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    logLevel: e.LOG_LEVEL,
    devMode,
    auth,
    ...(adminToken !== undefined ? { adminToken } : {}),
    allowedOrigins: e.ALLOWED_ORIGINS,
    limits: {
      maxFrameBytes: e.MAX_FRAME_BYTES,
      maxBodyBytes: e.MAX_BODY_BYTES,
      maxMetaBytes: 1024,
      maxReactionBytes: e.MAX_REACTION_BYTES,
      ratePerS: e.RATE_PER_S,
      rateBurst: e.RATE_BURST,
      maxBadFrames: e.MAX_BAD_FRAMES,
      maxRoomsPerConn: e.MAX_ROOMS_PER_CONN,
      maxConnsPerUser: e.MAX_CONNS_PER_USER,
      maxTokenlessPerAddress: e.MAX_TOKENLESS_PER_ADDRESS,
      slowBytes: e.SLOW_BYTES,
      joinConcurrency: e.JOIN_CONCURRENCY,
      joinQueueMax: e.JOIN_QUEUE_MAX,
    },
    timing: {
      dedupeTtlS: e.DEDUPE_TTL_S,
      presenceGraceS: e.PRESENCE_GRACE_S,
      typingTtlS: e.TYPING_TTL_S,
      typingThrottleMs: e.TYPING_THROTTLE_MS,
      heartbeatS: e.HEARTBEAT_S,
      drainS: e.DRAIN_S,
      nodeTtlS: e.NODE_TTL_S,
    },
    presenceBatch: { above: e.PRESENCE_BATCH_ABOVE, intervalMs: e.PRESENCE_BATCH_MS },
    recoveryMax: e.RECOVERY_MAX,
    recoveryMaxBytes: e.RECOVERY_MAX_BYTES,
    recentMax: e.RECENT_MAX,
    storeMaxPerRoom: e.STORE_MAX_PER_ROOM,
    reactions: { kindsPerMessage: e.MAX_REACTIONS_PER_MESSAGE, usersShown: e.REACTION_USERS_SHOWN },
    ...(e.REDIS_URL !== undefined ? { redisUrl: e.REDIS_URL } : {}),
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    ...(e.NATS_URL !== undefined ? { natsServers: e.NATS_URL } : {}),
    bus,
    ...(e.MONGODB_URL !== undefined ? { mongodbUrl: e.MONGODB_URL } : {}),
    keyPrefix: e.KEY_PREFIX,
    maxDeliver: e.MAX_DELIVER,
    // The queue stream keeps nothing past the retention either.
    queue: { maxBytes: e.QUEUE_MAX_BYTES, maxAgeS: e.RETENTION_DAYS > 0 ? Math.min(e.QUEUE_MAX_AGE_S, e.RETENTION_DAYS * 86_400) : e.QUEUE_MAX_AGE_S, replicas: e.QUEUE_REPLICAS },
    retention: { ms: e.RETENTION_DAYS * 86_400_000, sweepMs: e.RETENTION_SWEEP_S * 1000 },
    ...(tracing ? { tracing } : {}),
    ...(webhooks ? { webhooks } : {}),
    policy: policyConfig(e),
    ...(hook ? { hook } : {}),
  };
  return {
    config,
    ...(devMode && Object.keys(generated).length > 0 ? { generated } : {}),
    ...(dev && opts.devSecrets ? { devSecretsFile: e.DEV_SECRETS_FILE } : {}),
  };
}

function devSecrets(e: Env, source: DevSecretsSource | undefined): DevSecrets {
  if (!source) return generateDevSecrets();
  try {
    return source(e.DEV_SECRETS_FILE);
  } catch (err) {
    // Any failure (a malformed file, no permission to create it) is the variable's to fix.
    throw new ConfigError('DEV_SECRETS_FILE', err instanceof Error ? err.message : String(err));
  }
}

function resolveBus(e: Env): Config['bus'] {
  if (e.BUS === 'auto') return e.NATS_URL !== undefined ? 'nats' : e.REDIS_URL !== undefined || e.REDIS_CLUSTER_NODES.length > 0 ? 'redis' : 'memory';
  if (e.BUS === 'nats' && e.NATS_URL === undefined) throw new ConfigError('BUS', 'nats needs NATS_URL');
  if (e.BUS === 'redis' && e.REDIS_URL === undefined && e.REDIS_CLUSTER_NODES.length === 0) {
    throw new ConfigError('BUS', 'redis needs REDIS_URL or REDIS_CLUSTER_NODES');
  }
  return e.BUS;
}
