import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/gateway/auth.js';
import { buildAdapters, loadConfig, ParleyNode } from '../../src/main.js';
import { createLogger, redactUrl } from '../../src/shared/logger.js';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startBuiltNode, type TestNode } from '../helpers/node.js';
import { http } from './http-support.js';

/** A pino destination that keeps every line in memory. */
function captureLogs(level: string) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
      done();
    },
  });
  return { lines, logger: createLogger(level, sink) };
}

describe('createLogger and redactUrl', () => {
  it('redacts token, authorization, adminToken, password and secrets, top level and one level down', () => {
    const { lines, logger } = captureLogs('info');
    const marks = Array.from({ length: 12 }, (_, i) => `SENSITIVE-${i}-${randomBytes(4).toString('hex')}`);
    logger.info(
      {
        token: marks[0],
        authorization: `Bearer ${marks[1]}`,
        adminToken: marks[2],
        password: marks[3],
        secret: marks[4],
        jwtSecret: marks[5],
        conn: { token: marks[6], authorization: marks[7], adminToken: marks[8], password: marks[9] },
        headers: { authorization: marks[10] },
        req: { headers: { authorization: marks[11] } },
        visible: 'kept',
      },
      'with secrets',
    );
    expect(lines).toHaveLength(1);
    for (const m of marks) expect(lines[0]).not.toContain(m);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      msg: 'with secrets',
      visible: 'kept',
      token: '[redacted]',
      authorization: '[redacted]',
      adminToken: '[redacted]',
      password: '[redacted]',
      conn: { token: '[redacted]', authorization: '[redacted]', adminToken: '[redacted]', password: '[redacted]' },
      headers: { authorization: '[redacted]' },
      req: { headers: { authorization: '[redacted]' } },
    });
  });

  it('redacts those fields on an error object too', () => {
    const { lines, logger } = captureLogs('info');
    const err = Object.assign(new Error('boom'), { token: 'tok-in-error-123', password: 'pw-in-error-456' });
    logger.error({ err }, 'failed');
    expect(lines[0]).not.toContain('tok-in-error-123');
    expect(lines[0]).not.toContain('pw-in-error-456');
    expect(lines[0]).toContain('boom');
  });

  it.each([
    ['redis://u:pw@h:1', 'pw', 'redis://u:***@h:1'],
    ['rediss://:only-password@cache.internal:6380/0', 'only-password', 'rediss://:***@cache.internal:6380/0'],
    ['nats://user:s3cr3t@nats.example:4222', 's3cr3t', 'nats://user:***@nats.example:4222'],
    ['mongodb://admin:p%40ss@db.example/parley', 'p%40ss', 'mongodb://admin:***@db.example/parley'],
  ])('redactUrl(%s) hides the password', (url, password, shown) => {
    const out = redactUrl(url);
    expect(out).not.toContain(password);
    expect(out).toBe(shown);
  });

  it('redactUrl keeps a URL without a password and never echoes an unparseable one', () => {
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
    expect(redactUrl('not a url but:pw@host')).toBe('[unparseable url]');
  });
});

describe('a node at LOG_LEVEL=debug', () => {
  const secret = `log-test-jwt-secret-${randomBytes(16).toString('hex')}`;
  const adminToken = `log-test-admin-${randomBytes(12).toString('hex')}`;
  const wrongAdmin = `wrong-admin-${randomBytes(12).toString('hex')}`;
  const tokens: string[] = [];
  let node: TestNode;
  let logs: string[];

  beforeAll(async () => {
    const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', JWT_SECRET: secret, ADMIN_TOKEN: adminToken, LOG_LEVEL: 'debug', DRAIN_S: '0' });
    const captured = captureLogs(config.logLevel);
    logs = captured.lines;
    const adapters = buildAdapters(config, captured.logger);
    // Failing dependencies, so requests fail and get logged with their errors.
    const append = adapters.state.appendChecked.bind(adapters.state);
    adapters.state.appendChecked = (input, ttl, checks) => (input.room === 'log-broken' ? Promise.reject(new Error('disk on fire')) : append(input, ttl, checks));
    const user = adapters.presence.user.bind(adapters.presence);
    adapters.presence.user = (u) =>
      u === 'log-broken-user'
        ? Promise.reject(Object.assign(new Error('presence store exploded'), { token: tokens[0], authorization: `Bearer ${tokens[0]}` }))
        : user(u);
    node = await startBuiltNode(new ParleyNode(config, adapters, captured.logger), config);
  });
  afterAll(async () => {
    await node.close();
  });

  it('logs the failures of real traffic without any secret or token', async () => {
    const good = await node.token('log-user');
    const otherUser = await node.token('log-other');
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ rooms: ['*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('log-user').setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(new TextEncoder().encode(secret));
    const forged = (await mintToken(new TextEncoder().encode(`forged-secret-${randomBytes(16).toString('hex')}`), { user: 'log-user', ttlS: 3600 })).token;
    tokens.push(good, otherUser, forged, expired, 'not-a-jwt-at-all-0123456789');
    const malformed = `${good.split('.')[0]}.bm90LWpzb24.c2ln`;
    tokens.push(malformed);

    // Bad tokens on the upgrade, both ways of presenting them, and over Socket.IO.
    for (const bad of [forged, expired, malformed, 'not-a-jwt-at-all-0123456789']) {
      expect(await TestClient.attempt('ws', node, bad)).toEqual({ status: 401 });
      expect(await TestClient.attempt('ws', node, bad, { header: true })).toEqual({ status: 401 });
      expect(await TestClient.attempt('sio', node, bad)).toEqual({ message: 'unauthorized' });
    }

    for (const kind of KINDS) {
      const c = await TestClient.connect(kind, node, good);
      // In-band auth with a bad token and with another user's token.
      expect(await c.request('auth', { token: forged })).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      expect(await c.request('auth', { token: otherUser })).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      // A request that fails on a broken dependency.
      await c.join('log-broken');
      expect(await c.request('send', { room: 'log-broken', cid: `c-${kind}`, body: `carrying ${good}` })).toMatchObject({ ok: false, error: { code: 'overloaded' } });
      c.close();
      await c.waitClosed();
    }

    // Admin calls with a wrong token, a right one, and one that fails inside.
    expect((await node.admin('GET', '/admin/stats', undefined, wrongAdmin)).status).toBe(401);
    expect((await http(node, 'GET', '/admin/stats', { headers: { authorization: wrongAdmin } })).status).toBe(401);
    expect((await node.admin('POST', '/admin/rooms/log-r/messages', '{broken', wrongAdmin)).status).toBe(401);
    expect((await node.admin('GET', '/admin/stats')).status).toBe(200);
    const failed = await node.admin('GET', '/admin/users/log-broken-user/presence');
    expect(failed).toEqual({ status: 500, body: { error: { code: 'internal', message: expect.any(String) } } });
    expect(JSON.stringify(failed.body)).not.toContain('exploded');

    // The traffic did reach the log, at the levels these paths use.
    const entries = logs.map((l) => JSON.parse(l) as { level: number; msg: string });
    const msgs = entries.map((e) => e.msg);
    expect(msgs).toContain('connection refused: bad token');
    expect(msgs).toContain('request failed');
    expect(msgs).toContain('admin request failed');
    expect(logs.join('\n')).toContain('disk on fire');
    expect(logs.join('\n')).toContain('presence store exploded');
    // That error carried the token in its fields: it reached the logger and was blanked there.
    const adminFailure = entries.find((e) => e.msg === 'admin request failed') as { err?: Record<string, unknown> } | undefined;
    expect(adminFailure?.err).toMatchObject({ token: '[redacted]', authorization: '[redacted]' });

    const forbidden = [secret, adminToken, wrongAdmin, ...tokens];
    // A token's payload or signature alone is as telling as the whole token.
    for (const t of tokens) forbidden.push(...t.split('.').slice(1).filter((part) => part.length > 8));
    for (const line of logs) {
      for (const s of forbidden) expect(line, `a log line contains a secret: ${line}`).not.toContain(s);
    }
  });
});
