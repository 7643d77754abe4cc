import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Kind, type Refusal } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** ALLOWED_ORIGINS: browsers from other origins are refused at the upgrade; non-browser clients send no Origin. */

const ALLOWED = 'https://chat.example';

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ ALLOWED_ORIGINS: ALLOWED });
});
afterAll(async () => {
  await node.close();
});

function expectOriginRefusal(kind: Kind, result: TestClient | Refusal): void {
  if (result instanceof TestClient) {
    result.close();
    throw new Error('the connection was accepted');
  }
  if (kind === 'ws') expect(result).toEqual({ status: 403 });
  else expect(result).toMatchObject({ message: expect.any(String) as string });
}

describe.each(KINDS)('%s: ALLOWED_ORIGINS', (kind) => {
  it.each(['https://evil.example', 'http://chat.example', 'https://chat.example:8443', 'https://chat.example.evil.example', 'null'])(
    'refuses the upgrade from Origin %s',
    async (origin) => {
      const token = await node.token(`origin-bad-${kind}`);
      expectOriginRefusal(kind, await TestClient.attempt(kind, node, token, { origin }));
    },
  );

  it('accepts the allowed origin', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`origin-ok-${kind}`), { origin: ALLOWED });
    await c.join(`origin-room-${kind}`);
    c.close();
  });

  it('accepts a client that sends no Origin header (not a browser)', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`origin-none-${kind}`));
    await c.barrier();
    c.close();
  });

  it('a refused origin takes no connection slot of the user', async () => {
    const user = `origin-slots-${kind}`;
    for (let i = 0; i < 3; i++) expectOriginRefusal(kind, await TestClient.attempt(kind, node, await node.token(user), { origin: 'https://evil.example' }));
    const stats = await node.admin('GET', `/admin/users/${user}/presence`);
    expect(stats.body).toMatchObject({ online: false, devices: 0 });
  });
});
