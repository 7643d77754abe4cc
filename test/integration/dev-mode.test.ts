import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startBuiltNode, startNode, type TestNode } from '../helpers/node.js';
import { createLogger, createNode, loadConfig } from '../../src/main.js';
import { http } from './http-support.js';

/** The demo page's build output, as src/node.ts serves it. */
const INDEX_HTML = fileURLToPath(new URL('../../web/dist/index.html', import.meta.url));

let node: TestNode;

const mint = (body: unknown) =>
  http(node, 'POST', '/dev/token', { headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** A GET sent byte for byte, so `..` segments reach the server as written. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function claims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

describe('dev mode (no JWT key configured)', () => {
  beforeAll(async () => {
    const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' });
    node = await startBuiltNode(createNode(config, createLogger(config.logLevel)), config);
  });
  afterAll(async () => {
    await node.close();
  });

  it('is dev mode with a generated secret', () => {
    expect(node.config.devMode).toBe(true);
    expect(node.config.auth.secret).toBeDefined();
  });

  it('POST /dev/token {user} gives {token, exp} with rooms ["*"]', async () => {
    const now = Math.floor(Date.now() / 1000);
    const answer = await mint({ user: 'dev-dana' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ token: expect.any(String), exp: expect.any(Number) });
    expect(Number.isInteger(answer.json.exp)).toBe(true);
    expect(answer.json.exp).toBeGreaterThan(now);
    expect(claims(answer.json.token)).toMatchObject({ sub: 'dev-dana', exp: answer.json.exp, rooms: ['*'] });
  });

  describe.each(KINDS)('%s: a minted token', (kind) => {
    it('connects and may join any room', async () => {
      const { token } = (await mint({ user: `dev-any-${kind}` })).json;
      const c = await TestClient.connect(kind, node, token);
      expect(c.hello).toMatchObject({ user: `dev-any-${kind}` });
      for (const room of [`dev-lobby-${kind}`, `anything.else-${kind}`, `x:y@z-${kind}`]) {
        expect((await c.request('join', { room })).ok, room).toBe(true);
      }
      expect((await c.send(`dev-lobby-${kind}`, 'c1', 'hi')).seq).toBe(1);
      c.close();
    });

    it('with rooms ["dev-a"] may join only dev-a', async () => {
      const answer = await mint({ user: `dev-restricted-${kind}`, rooms: ['dev-a'] });
      expect(claims(answer.json.token)['rooms']).toEqual(['dev-a']);
      const c = await TestClient.connect(kind, node, answer.json.token);
      expect((await c.request('join', { room: 'dev-a' })).ok).toBe(true);
      const refused = await c.request('join', { room: 'dev-b' });
      expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      c.close();
    });
  });

  it.each([
    ['invalid JSON', '{"user":'],
    ['a JSON array', '["dev"]'],
    ['JSON null', 'null'],
    ['an empty body', ''],
    ['no user', {}],
    ['an empty user', { user: '' }],
    ['a user over 128 chars', { user: 'u'.repeat(129) }],
    ['a non-string user', { user: 42 }],
    ['rooms not an array', { user: 'dev-x', rooms: 'dev-a' }],
    ['rooms with a non-string', { user: 'dev-x', rooms: ['dev-a', 1] }],
    ['rooms with an empty pattern', { user: 'dev-x', rooms: [''] }],
  ])('POST /dev/token with %s is 400 bad_request', async (_label, body) => {
    const answer = await mint(body);
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error: { code: 'bad_request', message: expect.any(String) } });
  });

  it('GET / serves the demo page when web/dist/index.html exists, else a 404 JSON error', async () => {
    const answer = await http(node, 'GET', '/');
    if (existsSync(INDEX_HTML)) {
      expect(answer.status).toBe(200);
      expect(answer.contentType).toMatch(/^text\/html/);
      expect(answer.text.toLowerCase()).toContain('<html');
    } else {
      expect(answer.status).toBe(404);
      expect(answer.json).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    }
  });

  it('a missing file is 404', async () => {
    const answer = await http(node, 'GET', '/no-such-file.js');
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('a path escaping the web root serves nothing (raw request, no client-side normalization)', async () => {
    const head = await rawGet(node.port, '/../../package.json');
    expect(head).toMatch(/^HTTP\/1\.1 404/);
    expect(head).not.toContain('"name": "parley"');
  });

  it('the generated admin token opens the admin API', async () => {
    expect((await node.admin('GET', '/admin/stats')).status).toBe(200);
    expect((await node.admin('GET', '/admin/stats', undefined, 'not-the-generated-token')).status).toBe(401);
  });
});

describe('outside dev mode (JWT_SECRET configured)', () => {
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  it('POST /dev/token is 404 not_found and mints nothing', async () => {
    expect(node.config.devMode).toBe(false);
    const answer = await mint({ user: 'dev-outside' });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('GET /index.html is 404 not_found', async () => {
    const answer = await http(node, 'GET', '/index.html');
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('GET / is 404 with a text naming the endpoints and where tokens come from', async () => {
    const answer = await http(node, 'GET', '/');
    expect(answer.status).toBe(404);
    expect(answer.contentType).toMatch(/^text\/plain/);
    for (const word of ['/ws', '/socket.io/', '/healthz', '/readyz', 'JWT']) expect(answer.text).toContain(word);
    expect(answer.text).not.toContain('/dev/token');
  });
});
