import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger, createNode, loadConfig } from '../../src/main.js';
import { OpenApiDoc } from '../helpers/api-docs.js';
import { TestClient } from '../helpers/clients.js';
import { startBuiltNode, startNode, TEST_ADMIN_TOKEN, type TestNode } from '../helpers/node.js';
import { eventually } from './persist-support.js';
import { webhookDeployment, type WebhookDeployment } from './webhook-support.js';

/**
 * docs/openapi.yaml against real nodes: every documented operation is called, and each answer's
 * status, content type and body must be a documented response of its operation.
 */

const api = new OpenApiDoc();
const ALLOWED = 'http://allowed.example';

interface Call {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  admin?: boolean;
}

/** Calls `path` on `node` and validates the answer against the document; returns status and parsed body. */
async function call(node: TestNode, path: string, opts: Call = {}): Promise<{ status: number; body: unknown }> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { ...(opts.admin ? { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } : {}), ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${node.httpUrl}${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await res.text();
  api.check(method, path, res.status, res.headers.get('content-type') ?? '', text);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text answers stay text
  }
  return { status: res.status, body };
}

describe('webhook admin answers match docs/openapi.yaml', () => {
  let d: WebhookDeployment;
  let node: TestNode;
  beforeAll(async () => {
    d = await webhookDeployment('docs_hooks', { WEBHOOK_MAX_ATTEMPTS: '1' });
    node = await startNode(d.env);
  }, 60_000);
  afterAll(async () => {
    await node?.close();
    await d?.close();
  });

  it('the webhook routes', async () => {
    // A presence event that waits (no worker yet), then fails its only attempt: a dead letter.
    const ws = await TestClient.connect('ws', node, await node.token('alice'));
    try {
      await ws.join('docs-hooks');
      await eventually('a pending event', async () => ((await call(node, '/admin/webhooks', { admin: true })).body as { pending: number }).pending === 1);
      expect((await call(node, '/admin/webhooks/pending?limit=10', { admin: true })).body).toMatchObject({ events: [{ type: 'user.online', room: 'docs-hooks' }], next: null });
      expect((await call(node, '/admin/webhooks/pending?limit=0', { admin: true })).status).toBe(400);
      d.receiver.answer = () => ({ status: 500 });
      await d.worker();
      await eventually('a dead letter', async () => ((await call(node, '/admin/webhooks', { admin: true })).body as { failed: number }).failed === 1);
      const failed = await call(node, '/admin/webhooks/failed', { admin: true });
      expect(failed.body).toMatchObject({ failed: [{ type: 'user.online', reason: 'max-attempts', attempts: 1, error: 'HTTP 500' }], next: null });
      expect((await call(node, '/admin/webhooks/failed?cursor=abc', { admin: true })).status).toBe(400);
      const seq = (failed.body as { failed: { seq: number }[] }).failed[0]?.seq;
      expect((await call(node, '/admin/webhooks/failed/0/replay', { method: 'POST', admin: true })).status).toBe(400);
      d.receiver.answer = () => ({ status: 200 });
      expect((await call(node, `/admin/webhooks/failed/${seq}/replay`, { method: 'POST', admin: true })).body).toEqual({ replayed: 1 });
      expect((await call(node, '/admin/webhooks/failed/replay', { method: 'POST', admin: true })).body).toEqual({ replayed: 0, skipped: 0 });
      await d.receiver.waitFor('the replay', (r) => r.delivered().length === 1);
    } finally {
      ws.close();
    }
  });
});

describe('HTTP answers match docs/openapi.yaml', () => {
  let node: TestNode;
  let dev: TestNode;
  beforeAll(async () => {
    node = await startNode({ ALLOWED_ORIGINS: ALLOWED, DRAIN_S: '3', MAX_BODY_BYTES: '64' });
    const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' });
    dev = await startBuiltNode(createNode(config, createLogger(config.logLevel)), config);
  });
  afterAll(async () => {
    await Promise.all([node.close(), dev.close()]);
  });

  it('health and metrics', async () => {
    expect((await call(node, '/healthz')).status).toBe(200);
    expect((await call(node, '/readyz')).status).toBe(200);
    const metrics = await call(node, '/metrics');
    expect(metrics.body).toContain('parley_connections');
  });

  it('the admin API', async () => {
    expect((await call(node, '/admin/stats', { admin: true })).status).toBe(200);
    expect((await call(node, '/admin/stats', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const posted = await call(node, '/admin/rooms/docs-room/messages', { method: 'POST', admin: true, body: JSON.stringify({ cid: 'm1', body: 'hello', meta: { pinned: true } }) });
    expect(posted.status).toBe(200);
    expect((await call(node, '/admin/rooms/docs-room/messages', { method: 'POST', admin: true, body: '[1]' })).status).toBe(400);
    expect((await call(node, '/admin/rooms/docs-room/messages', { method: 'POST', admin: true, body: JSON.stringify({ cid: 'm2', body: 'x'.repeat(65) }) })).status).toBe(413);
    const page = await call(node, '/admin/rooms/docs-room/messages?limit=10', { admin: true });
    expect(page.body).toMatchObject({ room: 'docs-room', messages: [{ cid: 'm1', from: 'system' }] });
    expect((await call(node, '/admin/rooms/docs-room/messages?before=0', { admin: true })).status).toBe(400);
    const seq = (posted.body as { seq: number }).seq;
    expect((await call(node, `/admin/rooms/docs-room/messages/${seq}?from=moderator`, { method: 'DELETE', admin: true })).body).toMatchObject({ cid: `delete-${seq}`, dup: false });
    expect((await call(node, `/admin/rooms/docs-room/messages/${seq}`, { method: 'DELETE', admin: true })).status).toBe(200);
    expect((await call(node, '/admin/rooms/docs-room/messages/999', { method: 'DELETE', admin: true })).status).toBe(404);
    expect((await call(node, '/admin/rooms/docs-room/messages/x', { method: 'DELETE', admin: true })).status).toBe(400);
    expect((await call(node, '/admin/rooms/docs-room/messages?limit=10', { admin: true })).body).toMatchObject({ messages: [{ cid: 'm1', deleted: true, body: '' }] });
    const sent = await call(node, '/admin/rooms/docs-room/messages', { method: 'POST', admin: true, body: JSON.stringify({ cid: 'm3', body: 'to erase', from: 'eraser' }) });
    expect(sent.status).toBe(200);
    expect((await call(node, '/admin/users/eraser/messages?room=docs-room', { method: 'DELETE', admin: true })).body).toMatchObject({ user: 'eraser', found: 1, erased: 1, rooms: { 'docs-room': 1 } });
    expect((await call(node, '/admin/users/eraser/messages', { method: 'DELETE', admin: true })).body).toMatchObject({ found: 0, erased: 0 });
    expect((await call(node, '/admin/users/eraser/messages?room=no%20room', { method: 'DELETE', admin: true })).status).toBe(400);

    // Someone online, so that rooms and presence list something.
    const ws = new WebSocket(`${node.wsUrl}?token=${await node.token('alice')}`);
    await new Promise((resolve, reject) => {
      ws.once('message', resolve);
      ws.once('error', reject);
    });
    const joined = new Promise((resolve) => ws.once('message', resolve));
    ws.send(JSON.stringify({ t: 'join', rid: 1, room: 'docs-room' }));
    await joined;
    try {
      expect((await call(node, '/admin/rooms?limit=5', { admin: true })).body).toMatchObject({ rooms: [{ room: 'docs-room', occupancy: 1 }] });
      expect((await call(node, '/admin/rooms?limit=0', { admin: true })).status).toBe(400);
      expect((await call(node, '/admin/rooms/docs-room/presence', { admin: true })).body).toMatchObject({ occupancy: 1, members: [{ user: 'alice', devices: 1 }] });
      expect((await call(node, '/admin/rooms/bad%20room/presence', { admin: true })).status).toBe(400);
      expect((await call(node, '/admin/rooms/docs-room/occupancy', { admin: true })).body).toEqual({ room: 'docs-room', users: 1, devices: 1 });
      expect((await call(node, '/admin/rooms/bad%20room/occupancy', { admin: true })).status).toBe(400);
      expect((await call(node, '/admin/users/alice/presence', { admin: true })).body).toEqual({ user: 'alice', online: true, devices: 1, rooms: ['docs-room'] });
      expect((await call(node, `/admin/users/${'u'.repeat(129)}/presence`, { admin: true })).status).toBe(400);
      expect((await call(node, '/admin/users/alice/disconnect', { method: 'POST', admin: true, body: JSON.stringify({ code: 1000 }) })).status).toBe(400);
      const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
      expect((await call(node, '/admin/users/alice/disconnect', { method: 'POST', admin: true, body: '' })).body).toEqual({ disconnected: 1 });
      expect(await closed).toBe(4003);
    } finally {
      ws.close();
    }
  });

  it('the admin moderation routes', async () => {
    const room = 'docs-mod';
    const put = (path: string, body: unknown) => call(node, path, { method: 'PUT', admin: true, body: JSON.stringify(body) });
    const del = (path: string) => call(node, path, { method: 'DELETE', admin: true });
    expect((await put(`/admin/rooms/${room}/slowmode`, { seconds: 10 })).body).toEqual({ room, slowmode: 10 });
    expect((await put(`/admin/rooms/${room}/slowmode`, { seconds: 0 })).status).toBe(400);
    expect((await put(`/admin/rooms/${room}/mutes/bob`, { duration: 60 })).body).toMatchObject({ room, user: 'bob', action: 'mute' });
    expect((await put(`/admin/rooms/${room}/mutes/bob`, { duration: -1 })).status).toBe(400);
    expect((await put(`/admin/rooms/${room}/bans/eve`, {})).body).toEqual({ room, user: 'eve', action: 'ban', until: null });
    expect((await put(`/admin/rooms/bad%20room/bans/eve`, {})).status).toBe(400);
    expect((await call(node, `/admin/rooms/${room}/moderation`, { admin: true })).body).toMatchObject({ room, slowmode: 10, muted: [{ user: 'bob' }], banned: [{ user: 'eve', until: null }] });
    expect((await call(node, '/admin/rooms/bad%20room/moderation', { admin: true })).status).toBe(400);
    expect((await del(`/admin/rooms/${room}/mutes/bob`)).body).toEqual({ room, user: 'bob', action: 'unmute', until: null, lifted: true });
    expect((await del(`/admin/rooms/${room}/mutes/${'u'.repeat(129)}`)).status).toBe(400);
    expect((await del(`/admin/rooms/${room}/bans/eve`)).body).toMatchObject({ action: 'unban', lifted: true });
    expect((await del(`/admin/rooms/bad%20room/bans/eve`)).status).toBe(400);
    expect((await del(`/admin/rooms/${room}/slowmode`)).body).toEqual({ room, slowmode: 0 });
    expect((await del('/admin/rooms/bad%20room/slowmode')).status).toBe(400);
  });

  it('the token check on GET /ws', async () => {
    expect((await call(node, '/ws')).status).toBe(401);
    expect((await call(node, `/ws?token=${await node.token('alice')}`)).status).toBe(426);
    expect((await call(node, '/ws', { headers: { authorization: `Bearer ${await node.token('alice')}`, origin: 'http://elsewhere.example' } })).status).toBe(403);
  });

  it('the dev routes, in and outside dev mode', async () => {
    expect((await call(node, '/dev/token', { method: 'POST', body: JSON.stringify({ user: 'alice' }) })).status).toBe(404);
    expect((await call(node, '/')).status).toBe(404);
    expect((await call(dev, '/dev/token', { method: 'POST', body: JSON.stringify({ user: 'alice', rooms: ['lobby'] }) })).status).toBe(200);
    expect((await call(dev, '/dev/token', { method: 'POST', body: JSON.stringify({ user: '' }) })).status).toBe(400);
    expect([200, 404]).toContain((await call(dev, '/')).status);
  });

  it('readiness and the token check while draining', async () => {
    const draining = node.node.drain();
    expect((await call(node, '/readyz')).body).toMatchObject({ status: 'draining', checks: { draining: 'yes' } });
    expect((await call(node, `/ws?token=${await node.token('alice')}`)).status).toBe(503);
    // The node closes itself after DRAIN_S.
    await draining;
  });

  it('every documented operation was called', () => {
    const called = new Set([...api.exercised].map((k) => k.split(' ').slice(0, 2).join(' ')));
    const operations = api.operations().map((o) => `${o.method} ${o.template}`);
    expect(operations.filter((o) => !called.has(o))).toEqual([]);
    // Not provoked here: a failing dependency (500, 503), the admin routes' shared 401/404 (401 is
    // exercised on /admin/stats), and the demo page, which needs `npm run build` first.
    const untested = api.responseKeys().filter((k) => !api.exercised.has(k));
    expect(untested.filter((k) => !/^[A-Z]+ \/admin\/.* (401|404|500|503)$/.test(k) && k !== 'GET / 200')).toEqual([]);
  });
});
