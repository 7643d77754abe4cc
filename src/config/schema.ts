import { z } from 'zod';

/**
 * Every environment variable Parley reads, with its default. This is the only place that
 * touches process.env: the rest of the code receives a validated `Config`.
 */

/** An integer in decimal digits; an empty value means unset (the default). */
const intIn = (min: number, max: number, def: number) =>
  z.preprocess(
    (v) => (v === '' || v === undefined ? undefined : typeof v === 'string' && /^-?[0-9]+$/.test(v.trim()) ? Number(v) : v),
    z.number({ message: "must be an integer" }).int("must be an integer").min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`).default(def),
  );

/** An optional integer in decimal digits; an empty value means unset. */
const optionalIntIn = (min: number, max: number) =>
  z.preprocess(
    (v) => (v === '' || v === undefined ? undefined : typeof v === 'string' && /^-?[0-9]+$/.test(v.trim()) ? Number(v) : v),
    z.number({ message: 'must be an integer' }).int('must be an integer').min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`).optional(),
  );

const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  );

const optionalString = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === '' ? undefined : s));

const isUrl = (s: string, protocols: readonly string[]): boolean => {
  try {
    return protocols.includes(new URL(s).protocol);
  } catch {
    return false;
  }
};

const url = (protocols: readonly string[]) =>
  optionalString.refine((s) => s === undefined || isUrl(s, protocols), { message: `must be a URL (${protocols.join(' or ')})` });

/**
 * One URL or several, comma-separated (the servers of one cluster); undefined when empty. The
 * message names the position of a bad entry, never its text: it may hold a password.
 */
const urlList = (protocols: readonly string[]) =>
  list.superRefine((urls, ctx) => {
    const bad = urls.findIndex((u) => !isUrl(u, protocols));
    if (bad >= 0) ctx.addIssue({ code: 'custom', message: `entry ${bad + 1} of ${urls.length} must be a URL (${protocols.join(' or ')})` });
  }).transform((urls) => (urls.length === 0 ? undefined : urls));

/** The samplers of the OpenTelemetry specification that OTEL_TRACES_SAMPLER may name. */
export const TRACE_SAMPLERS = [
  'always_on', 'always_off', 'traceidratio',
  'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

/** `key=value` pairs, comma-separated, values percent-encoded (OTEL_EXPORTER_OTLP_HEADERS). */
const otlpHeaders = list.superRefine((pairs, ctx) => {
  // The position, never the text: a header may hold a credential.
  const bad = pairs.findIndex((p) => !/^[^=\s]+\s*=.*$/.test(p));
  if (bad >= 0) ctx.addIssue({ code: 'custom', message: `entry ${bad + 1} of ${pairs.length} must be key=value` });
});

/** A number from 0 to 1; an empty value means unset. */
const ratio = z.preprocess(
  (v) => (v === '' || v === undefined ? undefined : typeof v === 'string' && /^\s*[0-9.eE+-]+\s*$/.test(v) ? Number(v) : v),
  z.number({ message: 'must be a number from 0 to 1' }).min(0, 'must be a number from 0 to 1').max(1, 'must be a number from 0 to 1').optional(),
);

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: intIn(0, 65535, 8080),
  /** Unset: 127.0.0.1 in dev mode (nothing outside this machine reaches a dev node), else 0.0.0.0. */
  HOST: z.string().min(1).optional(),
  ADMIN_PORT: optionalIntIn(0, 65535),
  ADMIN_HOST: optionalString,
  NODE_ID: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEV_MODE: z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'auto'], { message: 'must be true, false or auto' })
    .default('auto'),
  DEV_SECRETS_FILE: z.string().min(1).default('.parley/dev-secrets.json'),

  JWT_SECRET: optionalString.refine((s) => s === undefined || Buffer.byteLength(s) >= 32, {
    message: 'must be at least 32 bytes',
  }),
  JWT_PUBLIC_KEY: optionalString.refine((s) => s === undefined || s.includes('-----BEGIN'), {
    message: 'must be a PEM public key',
  }),
  JWT_JWKS_URL: url(['http:', 'https:']),
  JWT_ALGORITHMS: list.pipe(z.array(z.enum(JWT_ALGORITHMS, { message: `each must be one of ${JWT_ALGORITHMS.join(', ')}` }))),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_CLOCK_TOLERANCE_S: intIn(0, 3600, 0),
  AUTH_DEFAULT_ROOMS: list,
  ADMIN_TOKEN: optionalString.refine((s) => s === undefined || s.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  ALLOWED_ORIGINS: list,

  MAX_FRAME_BYTES: intIn(1024, 16 * 1024 * 1024, 65536),
  MAX_BODY_BYTES: intIn(1, 1024 * 1024, 4096),
  MAX_REACTION_BYTES: intIn(1, 256, 32),
  MAX_REACTIONS_PER_MESSAGE: intIn(1, 1000, 20),
  REACTION_USERS_SHOWN: intIn(0, 100, 10),
  RATE_PER_S: intIn(1, 100_000, 20),
  RATE_BURST: intIn(1, 100_000, 40),
  MAX_BAD_FRAMES: intIn(1, 100_000, 10),
  MAX_ROOMS_PER_CONN: intIn(1, 100_000, 100),
  MAX_CONNS_PER_USER: intIn(1, 100_000, 20),
  MAX_TOKENLESS_PER_ADDRESS: intIn(1, 1_000_000, 100),
  JOIN_CONCURRENCY: intIn(1, 10_000, 32),
  JOIN_QUEUE_MAX: intIn(0, 10_000_000, 100_000),
  SLOW_BYTES: intIn(1024, 1024 * 1024 * 1024, 1024 * 1024),
  DEDUPE_TTL_S: intIn(1, 30 * 86400, 600),
  PRESENCE_GRACE_S: intIn(0, 3600, 5),
  TYPING_TTL_S: intIn(1, 3600, 6),
  TYPING_THROTTLE_MS: intIn(0, 60_000, 1000),
  PRESENCE_BATCH_ABOVE: intIn(0, 100_000_000, 100),
  PRESENCE_BATCH_MS: intIn(50, 60_000, 1000),
  RECOVERY_MAX: intIn(1, 100_000, 1000),
  RECOVERY_MAX_BYTES: intIn(8192, 256 * 1024 * 1024, 262144),
  RECENT_MAX: intIn(1, 1_000_000, 1000),
  STORE_MAX_PER_ROOM: intIn(1, 10_000_000, 10_000),
  HEARTBEAT_S: intIn(1, 3600, 25),
  DRAIN_S: intIn(0, 3600, 5),

  /** Proxy hops in front of the gateways whose X-Forwarded-For is believed (0: the socket's address). */
  TRUST_PROXY: intIn(0, 10, 0),
  MAX_CONNS_PER_ADDRESS: intIn(0, 1_000_000, 0),
  HANDSHAKES_PER_ADDRESS: intIn(0, 1_000_000, 0),
  HANDSHAKE_WINDOW_S: intIn(1, 3600, 10),
  MSG_RATE_PER_USER: intIn(0, 1_000_000, 0),
  MSG_RATE_WINDOW_S: intIn(1, 86400, 10),

  HOOK_PUBLISH_URL: url(['http:', 'https:']),
  HOOK_TIMEOUT_MS: intIn(10, 60_000, 500),
  HOOK_FAIL: z.enum(['open', 'closed'], { message: 'must be open or closed' }).default('closed'),
  HOOK_MAX_SOCKETS: intIn(1, 10_000, 64),
  HOOK_BREAKER_FAILURES: intIn(1, 10_000, 5),
  HOOK_BREAKER_COOLDOWN_MS: intIn(100, 600_000, 5000),

  REDIS_URL: url(['redis:', 'rediss:']),
  REDIS_CLUSTER_NODES: list,
  NATS_URL: urlList(['nats:', 'tls:', 'ws:', 'wss:']),
  BUS: z.enum(['auto', 'memory', 'redis', 'nats']).default('auto'),
  MONGODB_URL: url(['mongodb:', 'mongodb+srv:']),
  KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 chars of [A-Za-z0-9_.:-]').default('parley'),
  NODE_TTL_S: intIn(2, 3600, 15),
  MAX_DELIVER: intIn(1, 1000, 5),
  QUEUE_MAX_BYTES: intIn(1024 * 1024, 2 ** 50, 1024 ** 3),
  QUEUE_MAX_AGE_S: intIn(60, 365 * 86400, 7 * 86400),
  /** Copies of each JetStream stream (3 in production: a quorum of 2 acknowledges each message). */
  QUEUE_REPLICAS: intIn(1, 5, 1),
  /** Days messages are kept (MongoDB, Redis recent buffers, the queue stream); 0 keeps them for good. */
  RETENTION_DAYS: intIn(0, 36_500, 0),
  RETENTION_SWEEP_S: intIn(1, 86_400, 60),

  /** Tracing is off unless an exporter is named (the specification's default, otlp, is not ours). */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console'], { message: 'must be none, otlp or console' }).default('none'),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http:', 'https:']),
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeaders,
  OTEL_SERVICE_NAME: optionalString,
  OTEL_TRACES_SAMPLER: z.enum(TRACE_SAMPLERS, { message: `must be one of ${TRACE_SAMPLERS.join(', ')}` }).default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: ratio,

  /** Webhooks after the fact (docs/webhooks.md): off unless a URL is set. */
  WEBHOOK_URL: url(['http:', 'https:']),
  WEBHOOK_SECRET: optionalString.refine((s) => s === undefined || Buffer.byteLength(s) >= 16, { message: 'must be at least 16 bytes' }),
  WEBHOOK_TIMEOUT_MS: intIn(100, 120_000, 5_000),
  WEBHOOK_MAX_ATTEMPTS: intIn(1, 1_000, 10),
  WEBHOOK_BACKOFF_MS: intIn(10, 3_600_000, 1_000),
  WEBHOOK_BACKOFF_MAX_MS: intIn(10, 86_400_000, 300_000),
  WEBHOOK_PARTITIONS: intIn(1, 256, 16),
});

export type Env = z.infer<typeof envSchema>;
