import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, fileDevSecrets, loadConfig } from '../../src/config/index.js';
import { DependencyError, reaching } from '../../src/shared/dependency.js';
import { formatSummary, RESULT_PREFIX, transportResult, type RunResult } from '../../loadtest/summary.js';

const SECRET = 'unit-secret-that-is-at-least-32-bytes-long';
const dir = mkdtempSync(join(tmpdir(), 'parley-devx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dev secrets', () => {
  it('are created once with mode 0600 and read back after', () => {
    const file = join(dir, 'a/dev-secrets.json');
    const first = fileDevSecrets(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.byteLength(first.jwtSecret)).toBeGreaterThanOrEqual(32);
    expect(first.adminToken.length).toBeGreaterThanOrEqual(16);
    expect(fileDevSecrets(file)).toEqual(first);
  });

  it('a copy readable by others is taken back to 0600', () => {
    const file = join(dir, 'b.json');
    const first = fileDevSecrets(file);
    chmodSync(file, 0o644);
    expect(fileDevSecrets(file)).toEqual(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a malformed file stops loadConfig with DEV_SECRETS_FILE named', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"jwtSecret":"short"}', { mode: 0o600 });
    const load = () => loadConfig({ NODE_ENV: 'test', DEV_SECRETS_FILE: file }, { devSecrets: fileDevSecrets });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/^DEV_SECRETS_FILE: .*delete it/);
  });

  it('dev mode takes what is not configured from the source; outside dev mode the source is never called', () => {
    const file = join(dir, 'c.json');
    const { config, generated, devSecretsFile } = loadConfig({ NODE_ENV: 'test', DEV_SECRETS_FILE: file, ADMIN_TOKEN: 'configured-admin-token' }, { devSecrets: fileDevSecrets });
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { jwtSecret: string };
    expect(new TextDecoder().decode(config.auth.secret)).toBe(stored.jwtSecret);
    expect(config.adminToken).toBe('configured-admin-token');
    expect(generated).toEqual({ jwtSecret: stored.jwtSecret });
    expect(devSecretsFile).toBe(file);
    const never = () => {
      throw new Error('called outside dev mode');
    };
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: SECRET }, { devSecrets: never }).devSecretsFile).toBeUndefined();
  });
});

describe('HOST', () => {
  it('defaults to 127.0.0.1 in dev mode and 0.0.0.0 otherwise; an explicit HOST wins', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).config.host).toBe('127.0.0.1');
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: SECRET }).config.host).toBe('0.0.0.0');
    expect(loadConfig({ NODE_ENV: 'test', HOST: '0.0.0.0' }).config.host).toBe('0.0.0.0');
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: SECRET, HOST: '10.1.2.3' }).config.host).toBe('10.1.2.3');
  });
});

describe('DependencyError', () => {
  it('names the dependency and its redacted URL, and scrubs the password from the cause', async () => {
    const url = 'redis://app:s3cret-pw@cache.internal:6380/0';
    const failing = reaching({ name: 'Redis', where: url }, () => Promise.reject(new Error(`connect to ${url} failed (auth s3cret-pw)\n    at somewhere`)));
    const err = await failing.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    const message = (err as Error).message;
    expect(message).toBe('cannot reach Redis at redis://app:***@cache.internal:6380/0: connect to redis://app:***@cache.internal:6380/0 failed (auth ***)');
    expect(message).not.toContain('s3cret-pw');
  });

  it('leaves a step without a dependency, and a success, alone', async () => {
    await expect(reaching(undefined, () => Promise.reject(new Error('plain')))).rejects.toThrow(/^plain$/);
    await expect(reaching({ name: 'NATS', where: 'nats://h:4222' }, () => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe('load test summary', () => {
  const report = {
    aggregate: {
      counters: { 'parley.sent': 120, 'parley.acked': 118, 'parley.lost_messages': 1, 'parley.duplicated': 2, 'errors.ETIMEDOUT': 1, 'vusers.failed': 1 },
      summaries: { 'parley.ack_ms': { p50: 1.5, p99: 9 }, 'parley.delivery_ms': { median: 2, p99: 12.25 } },
    },
  };

  it('reads the counters and percentiles of an Artillery report', () => {
    expect(transportResult(0, report)).toEqual({ exitCode: 0, sent: 120, acked: 118, lost: 1, duplicated: 2, errors: 1, failedVusers: 1, ackMs: { p50: 1.5, p99: 9 }, deliveryMs: { p50: 2, p99: 12.25 } });
  });

  it('prints a few lines: verdict, counts, p50/p99 per transport, the log file, then the JSON result', () => {
    const ws = transportResult(0, report);
    const socketio = transportResult(0, { aggregate: {} });
    const result: RunResult = {
      mode: 'smoke', durationS: 30, arrivalRate: 2, ws, socketio, sent: 120, acked: 118, lost: 1, duplicated: 2, errors: 2, nodeCrashed: false,
      rss: { startMb: 80, endMb: 90.25, growthMbPerHour: null, samples: 7 }, ok: false, log: '/tmp/x/smoke.log',
    };
    const text = formatSummary(result, 600);
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines).toEqual([
      'loadtest smoke: FAILED (30 s, 2 new users/s per transport)',
      '  sent 120, acknowledged 118, lost 1, duplicated 2, errors 2',
      '  send->ack       /ws p50 1.5 ms, p99 9.0 ms; Socket.IO p50 n/a ms, p99 n/a ms',
      '  send->delivery  /ws p50 2.0 ms, p99 12.3 ms; Socket.IO p50 n/a ms, p99 n/a ms',
      '  RSS 80.0 -> 90.3 MB, growth n/a (needs 10+ min) (7 samples)',
      '  full log: /tmp/x/smoke.log',
      `${RESULT_PREFIX}${JSON.stringify(result)}`,
    ]);
  });
});
