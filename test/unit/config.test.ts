import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeServers } from '../../src/bus/nats-servers.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../../src/config/index.js';

/** src/config: one validated schema; a bad value stops the start with a ConfigError naming its variable. */

const SECRET = 's'.repeat(32);
const KEYED = { JWT_SECRET: SECRET };
const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function configError(env: Record<string, string>, opts?: Parameters<typeof loadConfig>[1]): ConfigError {
  try {
    loadConfig(env, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

describe('defaults', () => {
  it('with only a secret: the documented defaults, not dev mode', () => {
    const { config, generated }: LoadedConfig = loadConfig(KEYED);
    expect(generated).toBeUndefined();
    expect(config).toMatchObject({
      env: 'development',
      port: 8080,
      host: '0.0.0.0',
      logLevel: 'info',
      devMode: false,
      allowedOrigins: [],
      limits: {
        maxFrameBytes: 65536,
        maxBodyBytes: 4096,
        maxMetaBytes: 1024,
        ratePerS: 20,
        rateBurst: 40,
        maxBadFrames: 10,
        maxRoomsPerConn: 100,
        maxConnsPerUser: 20,
        slowBytes: 1024 * 1024,
      },
      timing: { dedupeTtlS: 600, presenceGraceS: 5, typingTtlS: 6, typingThrottleMs: 1000, heartbeatS: 25, drainS: 5 },
      presenceBatch: { above: 100, intervalMs: 1000 },
      recoveryMax: 1000,
      recoveryMaxBytes: 262144,
      bus: 'memory',
      keyPrefix: 'parley',
      redisClusterNodes: [],
    });
    expect(config.auth).toMatchObject({ algorithms: ['HS256', 'HS384', 'HS512'], clockToleranceS: 0, defaultRooms: [] });
    expect(config.auth.secret).toEqual(new TextEncoder().encode(SECRET));
    expect(config.adminToken).toBeUndefined();
    expect(config.nodeId.length).toBeGreaterThan(0);
  });

  it('reads lists, trimming blanks and empty items', () => {
    const { config } = loadConfig({ ...KEYED, ALLOWED_ORIGINS: ' https://a.example , ,https://b.example ', AUTH_DEFAULT_ROOMS: 'lobby,team-*' });
    expect(config.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.auth.defaultRooms).toEqual(['lobby', 'team-*']);
  });

  it('reads the presence batching and typing throttle settings (0: batch every room, no throttle)', () => {
    const { config } = loadConfig({ ...KEYED, PRESENCE_BATCH_ABOVE: '0', PRESENCE_BATCH_MS: '50', TYPING_THROTTLE_MS: '0' });
    expect(config.presenceBatch).toEqual({ above: 0, intervalMs: 50 });
    expect(config.timing.typingThrottleMs).toBe(0);
  });

  it('treats an empty string variable as unset', () => {
    expect(loadConfig({ ...KEYED, JWT_ISSUER: '', ADMIN_TOKEN: '', REDIS_URL: '' }).config).toMatchObject({ bus: 'memory' });
    expect(loadConfig({ ...KEYED, JWT_ISSUER: '' }).config.auth.issuer).toBeUndefined();
    expect(loadConfig({ ...KEYED, PORT: '', DRAIN_S: '' }).config).toMatchObject({ port: 8080, timing: { drainS: 5 } });
  });

  it.each(['1e3', '0x10', '12.0', ' ', '+5'])('refuses the integer spelling %j', (value) => {
    expect(configError({ ...KEYED, PORT: value }).variable).toBe('PORT');
  });
});

describe('dev mode', () => {
  it('is on when no key is configured, and generates JWT_SECRET and ADMIN_TOKEN', () => {
    const { config, generated } = loadConfig({});
    expect(config.devMode).toBe(true);
    expect(generated?.jwtSecret?.length).toBeGreaterThanOrEqual(32);
    expect(generated?.adminToken?.length).toBeGreaterThanOrEqual(16);
    expect(config.auth.secret).toEqual(new TextEncoder().encode(generated?.jwtSecret));
    expect(config.adminToken).toBe(generated?.adminToken);
    // Tokens without a rooms claim may join any room in dev mode.
    expect(config.auth.defaultRooms).toEqual(['*']);
    // Fresh secrets on every start.
    expect(loadConfig({}).generated?.jwtSecret).not.toBe(generated?.jwtSecret);
  });

  it('keeps a configured ADMIN_TOKEN and generates only what is missing', () => {
    const { config, generated } = loadConfig({ ADMIN_TOKEN: 'a'.repeat(16) });
    expect(config.adminToken).toBe('a'.repeat(16));
    expect(generated).toEqual({ jwtSecret: expect.any(String) as string });
  });

  it('is refused with NODE_ENV=production, naming what to configure', () => {
    expect(configError({ NODE_ENV: 'production' }).variable).toBe('JWT_SECRET');
    expect(configError({ NODE_ENV: 'production', DEV_MODE: 'true', ...KEYED }).variable).toBe('DEV_MODE');
    expect(loadConfig({ NODE_ENV: 'production', ...KEYED }).config.devMode).toBe(false);
  });

  it('DEV_MODE=false without a key: JWT_SECRET is required', () => {
    expect(configError({ DEV_MODE: 'false' }).variable).toBe('JWT_SECRET');
  });

  it('a worker needs no key and never runs in dev mode', () => {
    expect(loadConfig({ NODE_ENV: 'production' }, { role: 'worker' }).config.devMode).toBe(false);
  });
});

const BAD: [string, string][] = [
  ['NODE_ENV', 'staging'],
  ['PORT', 'abc'],
  ['PORT', '80.5'],
  ['PORT', '-1'],
  ['PORT', '65536'],
  ['HOST', ''],
  ['ADMIN_PORT', 'admin'],
  ['ADMIN_PORT', '65536'],
  ['ADMIN_PORT', '-1'],
  ['LOG_LEVEL', 'verbose'],
  ['DEV_MODE', 'maybe'],
  ['JWT_SECRET', 'too-short'],
  ['JWT_PUBLIC_KEY', 'not a pem'],
  ['JWT_JWKS_URL', 'not a url'],
  ['JWT_JWKS_URL', 'ftp://keys.example/jwks.json'],
  ['JWT_ALGORITHMS', 'HS999'],
  ['JWT_ALGORITHMS', 'HS256,none'],
  ['JWT_CLOCK_TOLERANCE_S', '3601'],
  ['JWT_CLOCK_TOLERANCE_S', 'soon'],
  ['ADMIN_TOKEN', 'short'],
  ['MAX_FRAME_BYTES', '1023'],
  ['MAX_FRAME_BYTES', String(16 * 1024 * 1024 + 1)],
  ['MAX_BODY_BYTES', '0'],
  ['MAX_BODY_BYTES', '1e9'],
  ['RATE_PER_S', '0'],
  ['RATE_PER_S', '100001'],
  ['RATE_BURST', '0'],
  ['RATE_BURST', '2.5'],
  ['MAX_BAD_FRAMES', '0'],
  ['MAX_ROOMS_PER_CONN', '0'],
  ['MAX_CONNS_PER_USER', '-3'],
  ['SLOW_BYTES', '1023'],
  ['DEDUPE_TTL_S', '0'],
  ['PRESENCE_GRACE_S', '-1'],
  ['PRESENCE_GRACE_S', '3601'],
  ['TYPING_TTL_S', '0'],
  ['TYPING_THROTTLE_MS', '-1'],
  ['TYPING_THROTTLE_MS', '60001'],
  ['PRESENCE_BATCH_ABOVE', '-1'],
  ['PRESENCE_BATCH_ABOVE', 'many'],
  ['PRESENCE_BATCH_MS', '49'],
  ['PRESENCE_BATCH_MS', '60001'],
  ['RECOVERY_MAX', '0'],
  ['RECOVERY_MAX_BYTES', '8191'],
  ['RECOVERY_MAX_BYTES', String(256 * 1024 * 1024 + 1)],
  ['RECENT_MAX', '0'],
  ['STORE_MAX_PER_ROOM', '0'],
  ['HEARTBEAT_S', '0'],
  ['HEARTBEAT_S', 'NaN'],
  ['DRAIN_S', '-1'],
  ['REDIS_URL', 'http://localhost:6379'],
  ['REDIS_URL', 'localhost:6379'],
  ['NATS_URL', 'http://localhost:4222'],
  ['NATS_URL', 'nats://a:4222,localhost:4223'],
  ['QUEUE_REPLICAS', '0'],
  ['QUEUE_REPLICAS', '6'],
  ['QUEUE_REPLICAS', 'three'],
  ['BUS', 'kafka'],
  ['MONGODB_URL', 'postgres://localhost/db'],
  ['KEY_PREFIX', 'has space'],
  ['KEY_PREFIX', 'k'.repeat(65)],
  ['NODE_TTL_S', '1'],
  ['MAX_DELIVER', '0'],
];

describe('bad values', () => {
  it.each(BAD)('%s=%j stops with a ConfigError naming the variable', (variable, value) => {
    const err = configError({ ...KEYED, [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.name).toBe('ConfigError');
  });

  it.each([
    ['RATE_BURST', { RATE_PER_S: '50', RATE_BURST: '40' }],
    ['MAX_BODY_BYTES', { MAX_FRAME_BYTES: '4096', MAX_BODY_BYTES: '4096' }],
    // One message of MAX_BODY_BYTES must fit a reply: 6 * 65536 + 4096 bytes.
    ['RECOVERY_MAX_BYTES', { MAX_FRAME_BYTES: '131072', MAX_BODY_BYTES: '65536' }],
    ['RECOVERY_MAX_BYTES', { MAX_BODY_BYTES: '4096', RECOVERY_MAX_BYTES: String(6 * 4096 + 4095) }],
    ['JWT_JWKS_URL', { JWT_PUBLIC_KEY: RSA_PEM, JWT_JWKS_URL: 'https://keys.example/jwks.json' }],
    ['BUS', { BUS: 'nats' }],
    ['BUS', { BUS: 'redis' }],
    ['ADMIN_PORT', { ADMIN_PORT: '8080' }],
    ['ADMIN_PORT', { PORT: '9000', ADMIN_PORT: '9000' }],
    ['ADMIN_HOST', { ADMIN_HOST: '127.0.0.1' }],
  ])('a combination is refused naming %s', (variable, env) => {
    expect(configError({ ...KEYED, ...env }).variable).toBe(variable);
  });

  it('RECOVERY_MAX_BYTES of exactly 6 * MAX_BODY_BYTES + 4096 plus the longest summary is accepted', () => {
    // The longest summary with the default reactions: 20 kinds of (6 * 32 + 40 + 10 * 771) bytes, and 1100.
    const floor = 6 * 65536 + 4096 + 1100 + 20 * (6 * 32 + 40 + 10 * 771);
    const env = { ...KEYED, MAX_FRAME_BYTES: '131072', MAX_BODY_BYTES: '65536', RECOVERY_MAX_BYTES: String(floor) };
    expect(loadConfig(env).config.recoveryMaxBytes).toBe(floor);
    expect(configError({ ...env, RECOVERY_MAX_BYTES: String(floor - 1) }).message).toContain(`RECOVERY_MAX_BYTES: must be at least ${floor}`);
    // Fewer reactions shown, a lower floor.
    const small = { ...KEYED, MAX_BODY_BYTES: '1024', MAX_REACTIONS_PER_MESSAGE: '1', REACTION_USERS_SHOWN: '0', RECOVERY_MAX_BYTES: String(6 * 1024 + 4096 + 1100 + 6 * 32 + 40) };
    expect(loadConfig(small).config.recoveryMaxBytes).toBe(6 * 1024 + 4096 + 1100 + 232);
  });

  it('the first bad variable is named when there are several', () => {
    const err = configError({ ...KEYED, PORT: 'x', RATE_PER_S: 'y' });
    expect(['PORT', 'RATE_PER_S']).toContain(err.variable);
  });
});

describe('NATS servers and queue replicas', () => {
  it('NATS_URL takes the servers of a cluster, comma-separated; QUEUE_REPLICAS defaults to 1', () => {
    const env = { ...KEYED, REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://u:pw@10.0.0.1:4222, nats://10.0.0.2:4222,,tls://10.0.0.3:4222' };
    const { config } = loadConfig(env);
    expect(config.natsServers).toEqual(['nats://u:pw@10.0.0.1:4222', 'nats://10.0.0.2:4222', 'tls://10.0.0.3:4222']);
    expect(config.bus).toBe('nats');
    expect(config.queue.replicas).toBe(1);
    expect(loadConfig({ ...env, QUEUE_REPLICAS: '3' }).config.queue.replicas).toBe(3);
    expect(loadConfig({ ...KEYED, NATS_URL: ' , ' }).config.natsServers).toBeUndefined();
  });

  it('a bad server is named by its position, never by its text (it may hold a password)', () => {
    const err = configError({ ...KEYED, NATS_URL: 'nats://10.0.0.1:4222,http://user:secret-pw@10.0.0.2:4222' });
    expect(err.variable).toBe('NATS_URL');
    expect(err.message).toContain('entry 2 of 2');
    expect(err.message).not.toContain('secret-pw');
  });

  it('the servers are logged with their passwords masked', () => {
    expect(describeServers(['nats://u:pw@10.0.0.1:4222', 'nats://10.0.0.2:4222'])).toBe('nats://u:***@10.0.0.1:4222,nats://10.0.0.2:4222');
    expect(describeServers('nats://10.0.0.2:4222')).toBe('nats://10.0.0.2:4222');
  });
});

describe('ADMIN_PORT', () => {
  it('is unset by default: no admin listener', () => {
    expect(loadConfig(KEYED).config.admin).toBeUndefined();
  });

  it('listens on HOST unless ADMIN_HOST says otherwise', () => {
    expect(loadConfig({ ...KEYED, HOST: '10.0.0.5', ADMIN_PORT: '9090' }).config.admin).toEqual({ host: '10.0.0.5', port: 9090 });
    expect(loadConfig({ ...KEYED, ADMIN_PORT: '9090', ADMIN_HOST: '127.0.0.1' }).config.admin).toEqual({ host: '127.0.0.1', port: 9090 });
  });

  it('may be 0 with PORT 0 (two free ports), and equal to PORT for a worker, which does not listen on PORT', () => {
    expect(loadConfig({ ...KEYED, PORT: '0', ADMIN_PORT: '0' }).config.admin?.port).toBe(0);
    expect(loadConfig({ ADMIN_PORT: '8080' }, { role: 'worker' }).config.admin?.port).toBe(8080);
  });
});

describe('JWT_ALGORITHMS against the configured keys', () => {
  it('defaults to HS256/384/512 with a secret, the asymmetric family with a PEM key, both with both', () => {
    expect(loadConfig(KEYED).config.auth.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
    const pemOnly = loadConfig({ JWT_PUBLIC_KEY: RSA_PEM }).config.auth.algorithms;
    expect(pemOnly).toContain('RS256');
    expect(pemOnly).toContain('EdDSA');
    expect(pemOnly.some((a) => a.startsWith('HS'))).toBe(false);
    const both = loadConfig({ ...KEYED, JWT_PUBLIC_KEY: RSA_PEM }).config.auth.algorithms;
    expect(both).toEqual(expect.arrayContaining(['HS256', 'RS256', 'ES256']));
  });

  it('accepts an explicit list that the keys can verify, without duplicates', () => {
    expect(loadConfig({ ...KEYED, JWT_PUBLIC_KEY: RSA_PEM, JWT_ALGORITHMS: 'RS256, HS512,RS256' }).config.auth.algorithms).toEqual(['RS256', 'HS512']);
    expect(loadConfig({ JWT_JWKS_URL: 'https://keys.example/jwks.json', JWT_ALGORITHMS: 'ES256' }).config.auth.algorithms).toEqual(['ES256']);
  });

  it.each([
    ['an asymmetric algorithm with only a secret', { ...KEYED, JWT_ALGORITHMS: 'RS256' }],
    ['HS256 with only a PEM key', { JWT_PUBLIC_KEY: RSA_PEM, JWT_ALGORITHMS: 'HS256' }],
    ['HS384 with only a JWKS URL', { JWT_JWKS_URL: 'https://keys.example/jwks.json', JWT_ALGORITHMS: 'ES256,HS384' }],
  ])('refuses %s', (_name, env) => {
    expect(configError(env).variable).toBe('JWT_ALGORITHMS');
  });
});

describe('the CLI', () => {
  it('exits 1 on a bad value and names the variable on stderr', { timeout: 30_000 }, async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', JWT_SECRET: SECRET, PORT: 'abc', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/invalid configuration: PORT: /);
  });
});
