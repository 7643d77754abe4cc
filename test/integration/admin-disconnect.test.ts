import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { expectError } from './http-support.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

const disconnect = (user: string, body?: unknown) => node.admin('POST', `/admin/users/${encodeURIComponent(user)}/disconnect`, body);

describe.each(KINDS)('%s: POST /admin/users/:user/disconnect', (kind) => {
  it('closes every connection of the user with 4003 by default and counts them', async () => {
    const user = `kick-${kind}`;
    const c1 = await TestClient.connect(kind, node, await node.token(user));
    const c2 = await TestClient.connect(kind, node, await node.token(user));
    const bystander = await TestClient.connect(kind, node, await node.token(`${user}-bystander`));
    await c1.join(`${user}-room`);
    const answer = await disconnect(user);
    expect(answer).toEqual({ status: 200, body: { disconnected: 2 } });
    for (const c of [c1, c2]) expect((await c.waitClosed()).code).toBe(4003);
    // Other users stay connected.
    await bystander.barrier();
    expect((await node.admin('GET', `/admin/users/${user}/presence`)).body).toMatchObject({ online: false, devices: 0 });
    bystander.close();
  });

  it('uses the given code and reason (4000-4999)', async () => {
    const user = `kick-code-${kind}`;
    for (const code of [4000, 4321, 4999]) {
      const c = await TestClient.connect(kind, node, await node.token(user));
      const answer = await disconnect(user, { code, reason: 'account suspended' });
      expect(answer).toEqual({ status: 200, body: { disconnected: 1 } });
      expect(await c.waitClosed()).toEqual({ code, reason: 'account suspended' });
    }
  });

  it('refuses a code outside 4000-4999 with 400 and closes nothing', async () => {
    const user = `kick-bad-${kind}`;
    const c = await TestClient.connect(kind, node, await node.token(user));
    for (const code of [1000, 1001, 3999, 5000, 4003.5, '4003', -4003]) {
      expectError(await disconnect(user, { code }), 400, 'bad_request');
    }
    expectError(await disconnect(user, { reason: 42 }), 400, 'bad_request');
    expectError(await disconnect(user, '[4003]'), 400, 'bad_request');
    expectError(await disconnect(user, '{"code":'), 400, 'bad_request');
    await c.barrier();
    expect(c.received('bye')).toEqual([]);
    c.close();
  });
});

it('a connection of the user on each transport: both closed with 4003 (Socket.IO via bye)', async () => {
  const user = 'kick-mixed';
  const clients = await Promise.all(KINDS.map(async (kind) => TestClient.connect(kind, node, await node.token(user))));
  expect((await disconnect(user, {})).body).toEqual({ disconnected: 2 });
  for (const c of clients) expect((await c.waitClosed()).code).toBe(4003);
  const sio = clients.find((c) => c.kind === 'sio');
  expect(sio?.received('bye')).toEqual([{ t: 'bye', code: 4003, reason: expect.any(String) }]);
});

it('a user with no connection: disconnected 0', async () => {
  expect(await disconnect('kick-nobody')).toEqual({ status: 200, body: { disconnected: 0 } });
});

it('a kicked user may reconnect (the kick is not a ban)', async () => {
  const user = 'kick-again';
  const c = await TestClient.connect('ws', node, await node.token(user));
  await disconnect(user);
  await c.waitClosed();
  const again = await TestClient.connect('ws', node, await node.token(user));
  expect(again.hello['user']).toBe(user);
  again.close();
});
