import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, TEST_ADMIN_TOKEN, type TestNode } from '../helpers/node.js';
import { http } from './http-support.js';

/** Every route of the admin table of docs/admin-api.md, plus unknown ones: all need the bearer token first. */
const ROUTES: { method: string; path: string; body?: string }[] = [
  { method: 'GET', path: '/admin/stats' },
  { method: 'GET', path: '/admin/rooms' },
  { method: 'GET', path: '/admin/rooms?cursor=0&limit=5' },
  { method: 'GET', path: '/admin/rooms/auth-room/presence' },
  { method: 'GET', path: '/admin/users/auth-user/presence' },
  { method: 'GET', path: '/admin/rooms/auth-room/messages?limit=10' },
  { method: 'POST', path: '/admin/rooms/auth-room/messages', body: JSON.stringify({ cid: 'c1', body: 'hi' }) },
  { method: 'POST', path: '/admin/users/auth-user/disconnect', body: '{}' },
  { method: 'GET', path: '/admin/no-such-route' },
  { method: 'POST', path: '/admin/no-such-route', body: '{}' },
  { method: 'DELETE', path: '/admin/stats' },
];

const BAD_AUTHORIZATIONS: [string, Record<string, string>][] = [
  ['no Authorization header', {}],
  ['an empty header', { authorization: '' }],
  ['a wrong token', { authorization: 'Bearer not-the-admin-token-at-all' }],
  ['the token with a suffix', { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }],
  ['a prefix of the token', { authorization: `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}` }],
  ['the token without the Bearer scheme', { authorization: TEST_ADMIN_TOKEN }],
  ['the token under another scheme', { authorization: `Basic ${TEST_ADMIN_TOKEN}` }],
  ['a client JWT in place of the admin token', { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig' }],
];

function expect401(answer: { status: number; json: unknown }, label: string): void {
  expect(answer.status, label).toBe(401);
  expect(answer.json, label).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
}

describe('with ADMIN_TOKEN configured', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  it.each(BAD_AUTHORIZATIONS)('refuses %s on every admin route with 401 and an error body', async (_label, headers) => {
    for (const r of ROUTES) {
      const answer = await http(node, r.method, r.path, {
        headers: { ...headers, ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(r.body !== undefined ? { body: r.body } : {}),
      });
      expect401(answer, `${r.method} ${r.path}`);
    }
  });

  it('accepts the right token on the same routes (so the 401s above are about the token)', async () => {
    for (const r of ROUTES) {
      const answer = await http(node, r.method, r.path, {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(r.body !== undefined ? { body: r.body } : {}),
      });
      expect(answer.status, `${r.method} ${r.path}`).not.toBe(401);
    }
  });

  it('checks the token before the body: bad JSON or an oversized body still gets 401', async () => {
    const headers = { authorization: 'Bearer wrong-token-0123456789', 'content-type': 'application/json' };
    expect401(await http(node, 'POST', '/admin/rooms/auth-room2/messages', { headers, body: '{not json' }), 'bad JSON');
    expect401(await http(node, 'POST', '/admin/users/u/disconnect', { headers, body: '[1,2' }), 'bad JSON');
    expect401(await http(node, 'POST', '/admin/rooms/auth-room2/messages', { headers, body: 'x'.repeat(100_000) }), 'huge body');
    expect401(await http(node, 'GET', '/admin/rooms/bad%20room/messages', { headers }), 'bad room');
    expect401(await http(node, 'GET', '/admin/users/%E0%A4%A/presence', { headers }), 'malformed percent-encoding');
    expect401(await http(node, 'GET', '/admin/rooms?limit=0', { headers }), 'bad limit');
  });

  it('a refused POST has no effect: nothing stored, nobody disconnected', async () => {
    const room = 'auth-no-effect';
    const clients = await Promise.all(KINDS.map(async (kind) => TestClient.connect(kind, node, await node.token('auth-victim'))));
    for (const c of clients) await c.join(room);
    const wrong = 'Bearer wrong-token-0123456789';
    const json = { authorization: wrong, 'content-type': 'application/json' };
    expect401(await http(node, 'POST', `/admin/rooms/${room}/messages`, { headers: json, body: JSON.stringify({ cid: 'x1', body: 'nope' }) }), 'post');
    expect401(await http(node, 'POST', '/admin/users/auth-victim/disconnect', { headers: json, body: '{}' }), 'disconnect');
    for (const c of clients) {
      await c.barrier();
      expect(c.received('msg')).toEqual([]);
    }
    const history = await node.admin('GET', `/admin/rooms/${room}/messages`);
    expect(history.body).toEqual({ room, messages: [], more: false });
    for (const c of clients) c.close();
  });
});

describe('with ADMIN_TOKEN unset (not dev mode)', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ ADMIN_TOKEN: '' });
  });
  afterAll(async () => {
    await node.close();
  });

  it('is not in dev mode and has no admin token', () => {
    expect(node.config.devMode).toBe(false);
    expect(node.config.adminToken).toBeUndefined();
  });

  it.each([
    ['no header', {}],
    ['the test admin token', { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }],
    ['"undefined"', { authorization: 'Bearer undefined' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ] as [string, Record<string, string>][])('answers every admin route with 401 (%s)', async (_label, headers) => {
    for (const r of ROUTES) {
      const answer = await http(node, r.method, r.path, { headers, ...(r.body !== undefined ? { body: r.body } : {}) });
      expect401(answer, `${r.method} ${r.path}`);
    }
  });
});
