// docs/protocol.md, "Token expiry and `auth`": if `exp` passes (plus the clock tolerance) without a refresh,
// the server closes the connection with 4001. Deadlines are filed by second, so the close comes
// at `exp`, never before, and a refresh moves it to the new token's `exp`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** How late a close may come on a busy machine: timers fire late, never early. */
const SLACK_MS = 2500;

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

async function closeTime(c: TestClient, exp: number): Promise<{ code: number; at: number }> {
  const closed = await c.waitClosed(Math.max(0, exp * 1000 - Date.now()) + SLACK_MS + 2000);
  return { code: closed.code, at: Date.now() };
}

describe('token expiry (4001) on time', () => {
  for (const kind of ['ws', 'sio'] as const) {
    it(`${kind}: closes at exp, not before; a refreshed token's deadline moves, and the earlier exp passes harmlessly`, async () => {
      const user = `te-${kind}`;
      const first = await TestClient.connect(kind, node, await node.token(user, { ttlS: 2 }));
      const firstExp = first.hello['exp'] as number;
      const refreshed = await TestClient.connect(kind, node, await node.token(user, { ttlS: 2 }));
      const fresh = await node.token(user, { ttlS: 4 });
      const reply = await refreshed.request('auth', { token: fresh });
      expect(reply).toMatchObject({ ok: true });
      const freshExp = (reply['data'] as { exp: number }).exp;
      expect(freshExp).toBeGreaterThan(firstExp);

      const a = await closeTime(first, firstExp);
      expect(a.code).toBe(4001);
      expect(a.at).toBeGreaterThanOrEqual(firstExp * 1000);
      expect(a.at).toBeLessThanOrEqual(firstExp * 1000 + SLACK_MS);
      // Past the first exp, the refreshed connection still answers.
      await refreshed.barrier();

      const b = await closeTime(refreshed, freshExp);
      expect(b.code).toBe(4001);
      expect(b.at).toBeGreaterThanOrEqual(freshExp * 1000);
      expect(b.at).toBeLessThanOrEqual(freshExp * 1000 + SLACK_MS);
    });
  }
});
