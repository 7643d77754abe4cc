import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Reply } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, "Limits and backpressure": RATE_PER_S / RATE_BURST, and 4008 past 3 * RATE_BURST refusals. */

const RATE = 5;
const BURST = 5;

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ RATE_PER_S: String(RATE), RATE_BURST: String(BURST) });
});
afterAll(async () => {
  await node.close();
});

/** Retries `ping` until the bucket has refilled; each refusal counts, so keep the pace low. */
async function pingUntilAccepted(c: TestClient, deadlineMs = 5000): Promise<Reply> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const r = await c.request('ping');
    if (r.ok || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 1000 / RATE));
  }
}

describe.each(KINDS)('%s: rate limit', (kind) => {
  it('answers requests past the burst with rate_limited, and accepts again once the bucket refills', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`rate-${kind}`));
    const replies = await Promise.all(Array.from({ length: 2 * BURST }, () => c.request('ping')));
    // The first BURST go through; loopback sends all of them well within one refill (1/RATE s).
    expect(replies.slice(0, BURST).every((r) => r.ok)).toBe(true);
    const limited = replies.filter((r) => !r.ok);
    expect(limited.length).toBeGreaterThanOrEqual(BURST - 1);
    for (const r of limited) expect(r.error?.code).toBe('rate_limited');
    expect(replies.at(-1)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    // A client that backs off is not closed: the bucket refills at RATE_PER_S.
    expect(await pingUntilAccepted(c)).toMatchObject({ ok: true });
    expect(c.received('bye')).toEqual([]);
    c.close();
  });

  it('answers a rate-limited frame without rid with an error push', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`rate-push-${kind}`));
    for (let i = 0; i < BURST + 2; i++) c.fire('ping');
    const err = await c.waitFor('error');
    expect(err).toMatchObject({ code: 'rate_limited' });
    c.close();
  });

  it('rate-limits before checking the room (rule order: rate_limited before forbidden)', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`rate-order-${kind}`, { rooms: ['only-this'] }));
    const replies = await Promise.all(Array.from({ length: BURST + 3 }, () => c.request('join', { room: 'not-allowed' })));
    expect(replies[0]).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(replies.at(-1)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    c.close();
  });

  it('closes with 4008 a connection that keeps going past 3 * RATE_BURST refused frames', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`rate-abuse-${kind}`));
    // Enough that a refill during the flood (which resets the count) still leaves 3 * BURST refusals in a row.
    const flood = 2 * (BURST + 3 * BURST) + 10;
    for (let i = 0; i < flood; i++) c.fire('ping');
    expect(await c.waitClosed()).toMatchObject({ code: 4008 });
    // Every refusal before the close was answered.
    expect(c.received('error', (f) => f['code'] === 'rate_limited').length).toBeGreaterThanOrEqual(3 * BURST);
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/parley_closes_total\{code="4008"\} [1-9]/);
  });
});
