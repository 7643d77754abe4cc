import { connect } from 'node:net';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_GUIDE } from '../../src/admin/dev.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger, createNode } from '../../src/main.js';
import { runWorker, type RunningWorker } from '../../src/worker.js';
import { KINDS, TestClient } from '../helpers/clients.js';
import { nodeClients, startBuiltNode, startNode, TEST_ADMIN_TOKEN, type TestNode } from '../helpers/node.js';
import { requireMongo, requireNats, uniquePrefix } from '../helpers/services.js';
import { http, type HttpAnswer } from './http-support.js';
import { deleteStreams, MONGO_URL, NATS_URL, natsConnection } from './persist-support.js';

/**
 * ADMIN_PORT: admin, metrics and the dev token move to a listener of their own and are 404 on
 * the public one; health is on both; draining closes both. Unset, everything stays on PORT.
 */

/** The same TestNode helpers, pointed at the admin listener. */
function adminSide(node: TestNode): TestNode {
  const port = node.node.adminPort;
  if (port === undefined) throw new Error('the node has no admin listener');
  return { ...node, ...nodeClients(port, node.config.auth.secret, node.config.adminToken ?? '') };
}

const bearer = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const mint = (node: TestNode) => http(node, 'POST', '/dev/token', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ap-dev' }) });

function expectNotFound(answer: HttpAnswer, what: string): void {
  expect(answer.status, what).toBe(404);
  expect(answer.json, what).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
}

/** Whether a new TCP connection to `port` is refused (fetch would reuse a kept-alive one). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('with ADMIN_PORT', () => {
  let pub: TestNode;
  let admin: TestNode;

  beforeAll(async () => {
    pub = await startNode({ ADMIN_PORT: '0', DRAIN_S: '1' });
    admin = adminSide(pub);
  });
  afterAll(async () => {
    await pub.close();
  });

  it('listens on two ports', () => {
    expect(pub.node.adminPort).toEqual(expect.any(Number));
    expect(pub.node.adminPort).not.toBe(pub.port);
  });

  it('serves the admin API and /metrics on the admin port', async () => {
    const stats = await admin.admin('GET', '/admin/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ node: pub.config.nodeId, connections: expect.any(Number) });
    expect((await admin.admin('GET', '/admin/stats', undefined, 'not-the-admin-token')).status).toBe(401);
    const metrics = await http(admin, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^# TYPE parley_connections gauge$/m);
  });

  it('answers 404 on the public port for admin, metrics and dev routes, even with the admin token', async () => {
    for (const [method, path] of [
      ['GET', '/admin/stats'],
      ['GET', '/admin/rooms'],
      ['POST', '/admin/users/someone/disconnect'],
      ['GET', '/metrics'],
      ['POST', '/dev/token'],
      ['GET', '/dev/token'],
    ] as const) {
      expectNotFound(await http(pub, method, path, { headers: bearer, ...(method === 'POST' ? { body: '{}' } : {}) }), `${method} ${path}`);
    }
  });

  it('serves health on both ports', async () => {
    for (const side of [pub, admin]) {
      expect((await http(side, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
      const ready = await http(side, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.json).toMatchObject({ status: 'ready' });
    }
  });

  it('serves clients on the public port only, and counts them on the admin port', async () => {
    const clients = await Promise.all(KINDS.map(async (kind) => TestClient.connect(kind, pub, await pub.token(`ap-${kind}`))));
    await clients[0]!.join('ap-room');
    expect((await clients[0]!.send('ap-room', 'c1', 'hi')).seq).toBe(1);
    const metrics = (await http(admin, 'GET', '/metrics')).text;
    for (const kind of KINDS) expect(metrics, kind).toMatch(new RegExp(`^parley_connections\\{transport="${kind}"\\} [1-9]`, 'm'));
    for (const c of clients) c.close();
    expect(await TestClient.attempt('ws', admin, await pub.token('ap-wrong-port'))).toEqual({ status: 404 });
  });

  it('answers 404 for unknown routes and methods on both ports; GET / on the public port names the endpoints', async () => {
    for (const side of [pub, admin]) {
      expectNotFound(await http(side, 'GET', '/no-such-route'), 'GET');
      expectNotFound(await http(side, 'PUT', '/no-such-route'), 'PUT');
    }
    const root = await http(pub, 'GET', '/');
    expect(root.status).toBe(404);
    expect(root.contentType).toMatch(/^text\/plain/);
    expect(root.text).toBe(ROOT_GUIDE);
  });

  it('drains on both ports (readiness 503), then closes both listeners', async () => {
    const draining = pub.node.drain();
    for (const side of [pub, admin]) {
      const ready = await http(side, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json).toMatchObject({ status: 'draining' });
    }
    await draining;
    expect(await refused(pub.port)).toBe(true);
    expect(await refused(admin.port)).toBe(true);
  });
});

describe('with ADMIN_PORT in dev mode', () => {
  let pub: TestNode;

  beforeAll(async () => {
    const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0', DRAIN_S: '0', LOG_LEVEL: 'silent' });
    pub = await startBuiltNode(createNode(config, createLogger(config.logLevel)), config);
  });
  afterAll(async () => {
    await pub.close();
  });

  it('mints dev tokens on the admin port only, and they open the public port', async () => {
    expectNotFound(await mint(pub), 'public POST /dev/token');
    const minted = await mint(adminSide(pub));
    expect(minted.status).toBe(200);
    const c = await TestClient.connect('ws', pub, minted.json.token);
    expect(c.hello).toMatchObject({ user: 'ap-dev' });
    c.close();
  });
});

describe('without ADMIN_PORT', () => {
  let node: TestNode;

  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  it('serves admin, metrics, health and clients on the one port, as before', async () => {
    expect(node.node.adminPort).toBeUndefined();
    expect((await node.admin('GET', '/admin/stats')).status).toBe(200);
    expect((await http(node, 'GET', '/metrics')).text).toMatch(/^# TYPE parley_connections gauge$/m);
    expect((await http(node, 'GET', '/readyz')).status).toBe(200);
    const c = await TestClient.connect('ws', node, await node.token('ap-one-port'));
    c.close();
    expectNotFound(await mint(node), 'POST /dev/token outside dev mode');
  });
});

describe('a persist worker with ADMIN_PORT', () => {
  const prefix = uniquePrefix('apw');
  let worker: RunningWorker;
  let nc: NatsConnection;
  const get = (path: string) => fetch(`http://127.0.0.1:${worker.adminPort}${path}`);

  beforeAll(async () => {
    await Promise.all([requireNats(), requireMongo()]);
    const env = { NODE_ENV: 'test', NATS_URL, MONGODB_URL: `${MONGO_URL}/${prefix}`, KEY_PREFIX: prefix, HOST: '127.0.0.1', ADMIN_PORT: '0', QUEUE_MAX_BYTES: String(16 * 1024 * 1024) };
    worker = await runWorker(loadConfig(env, { role: 'worker' }).config, createLogger('silent'));
    nc = await natsConnection();
  }, 60_000);
  afterAll(async () => {
    await worker?.close();
    if (nc) await deleteStreams(nc, prefix).finally(() => nc.close());
  });

  it('serves /healthz, /readyz and its own /metrics; readiness is 503 while it closes, then the listener is gone', async () => {
    expect(worker.adminPort).toEqual(expect.any(Number));
    expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { queue: 'ok', draining: 'no' } });
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/^# TYPE parley_persist_messages_total counter$/m);
    expect(metrics).toMatch(/^# TYPE parley_queue_max_bytes gauge$/m);
    expect((await get('/admin/stats')).status).toBe(404);

    const closing = worker.close();
    const during = await get('/readyz');
    expect(during.status).toBe(503);
    await closing;
    expect(await refused(worker.adminPort!)).toBe(true);
  });
});
