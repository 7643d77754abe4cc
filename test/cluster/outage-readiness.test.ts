import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { requireRedis, uniquePrefix } from '../helpers/services.js';
import { startPrivateNats, startPrivateRedis, type PrivateRedis, type PrivateService } from '../helpers/services-private.js';
import { BUSES, busServices, readyz, spawnNodes, untilReadiness, type BusServices } from './support.js';

// A dependency goes away under two gateway processes and comes back: readiness reports it,
// sends fail fast and cleanly, and the nodes recover by themselves. The service that stops is
// private to this file; so is NATS for BUS=nats (see busServices); a shared Redis has a prefix.

const OUTAGE_MS = 20_000;
/** Far above the Redis command timeout (2 s): a reply after this is a hang. */
const REPLY_MS = 10_000;

async function twoNodes(name: string, env: Record<string, string>): Promise<[ProcessNode, ProcessNode]> {
  const full = { ...env, KEY_PREFIX: uniquePrefix(name) };
  const [a, b] = await spawnNodes(['n1', 'n2'].map((id) => `${name}-${id}`), full);
  return [a!, b!];
}

function msgCids(c: TestClient, room: string): string[] {
  return c.received('msg', (f) => f['room'] === room).map((f) => f['cid'] as string);
}

describe.each(BUSES)('a private Redis stops under two gateway processes (%s bus)', (bus) => {
  let nodes: [ProcessNode, ProcessNode] | undefined;
  let redis: PrivateRedis | undefined;
  let services: BusServices | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    services = await busServices(bus, redis.url);
    nodes = await twoNodes(`out_redis_${bus}`, services.env);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all((nodes ?? []).map((n) => n.close()));
    await services?.close();
    await redis?.close();
  });

  it('readyz goes 503 (redis down), send answers overloaded at once, and everything recovers when Redis returns', async () => {
    const room = 'outage-redis';
    const [n1, n2] = nodes!;
    const ann = await TestClient.connect('ws', n1, await n1.token('ann'));
    const ben = await TestClient.connect('sio', n2, await n2.token('ben'));
    clients.push(ann, ben);
    await ann.join(room);
    await ben.join(room);
    expect((await ann.send(room, 'r-0', 'before')).seq).toBe(1);
    expect((await readyz(n1)).status).toBe(200);

    await redis!.stop({ keepData: true });
    await untilReadiness([n1, n2], 503, OUTAGE_MS, ['redis', 'down']);
    expect((await readyz(n2)).checks).toMatchObject({ redis: 'down', draining: 'no' });

    // Refused promptly, on both transports; the client will retry with the same cid.
    for (const [c, cid] of [[ann, 'r-1'], [ben, 'r-b']] as const) {
      const refused = await c.request('send', { room, cid, body: 'while Redis is down' }, REPLY_MS);
      expect(refused.ok).toBe(false);
      expect(refused.error?.code).toBe('overloaded');
    }

    await redis!.start();
    await untilReadiness([n1, n2], 200, OUTAGE_MS);
    expect((await readyz(n1)).checks).toMatchObject({ redis: 'ok', bus: 'ok' });

    // Nothing of the refused attempt was kept: the resend is accepted once, then is a dup.
    const first = await ann.request('send', { room, cid: 'r-1', body: 'while Redis is down' }, REPLY_MS);
    expect(first.data).toMatchObject({ seq: 2, dup: false });
    const again = await ann.request('send', { room, cid: 'r-1', body: 'while Redis is down' }, REPLY_MS);
    expect(again.data).toMatchObject({ seq: 2, dup: true, ts: first.data.ts });
    expect((await ben.send(room, 'r-b', 'while Redis is down')).seq).toBe(3);
    expect((await ann.send(room, 'r-2', 'after')).seq).toBe(4);

    for (const c of [ann, ben]) {
      await c.waitFor('msg', (f) => f['cid'] === 'r-2', 10_000);
      expect(msgCids(c, room), c.kind).toEqual(['r-0', 'r-1', 'r-b', 'r-2']);
    }
  }, 90_000);

  it('a hung Redis: send answers overloaded within the command timeout, and the resend finishes what it left half-done', async () => {
    const room = 'outage-hung';
    const [n1, n2] = nodes!;
    const cy = await TestClient.connect('ws', n1, await n1.token('cy'));
    const di = await TestClient.connect('ws', n2, await n2.token('di'));
    clients.push(cy, di);
    await cy.join(room);
    await di.join(room);
    expect((await cy.send(room, 'h-0', 'before')).seq).toBe(1);

    redis!.freeze();
    let refused;
    try {
      refused = await cy.request('send', { room, cid: 'h-1', body: 'while Redis hangs' }, REPLY_MS);
      // The connections stay open while Redis hangs: readiness learns it from unanswered PINGs.
      await untilReadiness([n1, n2], 503, OUTAGE_MS, ['redis', 'down']);
    } finally {
      redis!.thaw();
    }
    expect(refused.error?.code).toBe('overloaded');
    await untilReadiness([n1, n2], 200, OUTAGE_MS);

    // Redis ran the timed-out script once it could: the resend finds it and must finish the job,
    // delivering it to the room, with no later message needed to reveal the gap.
    const resent = await cy.request('send', { room, cid: 'h-1', body: 'while Redis hangs' }, REPLY_MS);
    expect(resent.data).toMatchObject({ seq: 2, dup: true });
    for (const c of [cy, di]) await c.waitFor('msg', (f) => f['cid'] === 'h-1', 10_000);
    expect((await cy.request('send', { room, cid: 'h-1', body: 'while Redis hangs' }, REPLY_MS)).data).toMatchObject({ seq: 2, dup: true });
    expect((await di.send(room, 'h-2', 'after')).seq).toBe(3);
    for (const c of [cy, di]) {
      await c.waitFor('msg', (f) => f['cid'] === 'h-2', 10_000);
      expect(msgCids(c, room)).toEqual(['h-0', 'h-1', 'h-2']);
    }
  }, 90_000);
});

describe('a private NATS stops under two gateway processes (nats bus)', () => {
  let nodes: [ProcessNode, ProcessNode] | undefined;
  let nats: PrivateService | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    await requireRedis();
    nats = await startPrivateNats();
    nodes = await twoNodes('out_nats', { REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: nats.url, BUS: 'nats' });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all((nodes ?? []).map((n) => n.close()));
    await nats?.close();
  });

  it('readyz goes 503 (bus and queue down), send answers overloaded, and all recovers by itself: each message once, in order', async () => {
    const room = 'outage-nats';
    const [n1, n2] = nodes!;
    const ann = await TestClient.connect('ws', n1, await n1.token('ann'));
    const ben = await TestClient.connect('ws', n2, await n2.token('ben'));
    clients.push(ann, ben);
    await ann.join(room);
    await ben.join(room);
    await ann.send(room, 'n-0', 'before');
    await ben.waitFor('msg', (f) => f['cid'] === 'n-0', 10_000);

    await nats!.stop();
    await untilReadiness([n1, n2], 503, OUTAGE_MS, ['bus', 'down']);
    expect((await readyz(n1)).checks).toMatchObject({ bus: 'down', queue: 'down', redis: 'ok' });
    // NATS is the durable queue too (JetStream): a send cannot be acknowledged, and says so in time.
    const during = await ann.request('send', { room, cid: 'n-1', body: 'while NATS is down' }, REPLY_MS);
    expect(during.error?.code).toBe('overloaded');

    await nats!.start();
    await untilReadiness([n1, n2], 200, OUTAGE_MS);
    expect((await readyz(n2)).checks).toMatchObject({ bus: 'ok', queue: 'ok', redis: 'ok' });
    // It was sequenced before the queue refused it: the resend gets that seq, and only once.
    expect((await ann.request('send', { room, cid: 'n-1', body: 'while NATS is down' }, REPLY_MS)).data).toMatchObject({ seq: 2 });
    expect((await ann.request('send', { room, cid: 'n-1', body: 'while NATS is down' }, REPLY_MS)).data).toMatchObject({ seq: 2, dup: true });
    expect((await ann.send(room, 'n-2', 'after')).seq).toBe(3);
    expect((await ben.send(room, 'n-3', 'after, from the other node')).seq).toBe(4);

    for (const c of [ann, ben]) {
      await c.waitFor('msg', (f) => f['cid'] === 'n-3', 10_000);
      expect(msgCids(c, room)).toEqual(['n-0', 'n-1', 'n-2', 'n-3']);
    }
  }, 90_000);
});
