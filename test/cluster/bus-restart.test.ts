import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { requireRedis, uniquePrefix } from '../helpers/services.js';
import { startPrivateNats, startPrivateRedis, type PrivateRedis, type PrivateService } from '../helpers/services-private.js';
import { allAcks, BUSES, closeMembers, expectExactlyOnce, GENEROUS_RATES, Member, range, Sender, spawnNodes, until, untilReadiness } from './support.js';

// The bus restarts under three gateways while members keep sending. It is a private server:
// NATS for BUS=nats (also the JetStream queue; room state stays in the shared Redis), Redis for
// BUS=redis (also the room state; it restarts gracefully, SHUTDOWN SAVE, keeping its data as a
// production Redis would). Either way sends answer `overloaded` while it is down, and the SDK
// resends them with their cid.

const PACE_MS = 40;
const OUTAGE_MS = 20_000;

describe.each(BUSES)('restarting the bus mid-stream (%s bus)', (bus) => {
  const nodes: ProcessNode[] = [];
  const raw: TestClient[] = [];
  let lb: Balancer;
  let nats: PrivateService | undefined;
  let redis: PrivateRedis | undefined;

  beforeAll(async () => {
    let urls: Record<string, string>;
    if (bus === 'nats') {
      await requireRedis();
      nats = await startPrivateNats();
      urls = { REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: nats.url };
    } else {
      redis = await startPrivateRedis();
      urls = { REDIS_URL: redis.url };
    }
    const env = { ...urls, BUS: bus, KEY_PREFIX: uniquePrefix(`busrs_${bus}`), ...GENEROUS_RATES };
    nodes.push(...(await spawnNodes(['n1', 'n2', 'n3'].map((id) => `busrs-${bus}-${id}`), env)));
    lb = await startBalancer(nodes.map((n) => n.port));
  }, 60_000);

  afterAll(async () => {
    await closeMembers();
    for (const c of raw) c.close();
    await lb?.close();
    await Promise.all(nodes.map((n) => n.close()));
    await nats?.close();
    await redis?.close();
  });

  it('messages sent while it was down or right after it returned reach every member once, in order, without gaps', async () => {
    const room = 'bus-restart-room';
    const n1 = nodes[0]!;
    const watcher = await TestClient.connect('ws', n1, await n1.token('watcher'));
    raw.push(watcher);
    await watcher.join(room);
    const members: Member[] = [];
    for (const user of ['gus', 'hal', 'ivy']) members.push(await Member.join(user, room, lb.wsUrl, await n1.token(user)));
    expect(new Set(members.map((m) => m.node)).size, 'members spread over the nodes').toBeGreaterThan(1);
    const senders = members.map((m) => new Sender(m.client, room, m.user));
    const phase = (count: number) => senders.map((s) => s.run(count, PACE_MS));

    await Promise.all(phase(10));
    if (bus === 'nats') await nats!.stop();
    else await redis!.stop({ keepData: true });
    await untilReadiness(nodes, 503, OUTAGE_MS, ['bus', 'down']);

    // Made while it is down: refused with `overloaded` (the durable queue is JetStream on that
    // NATS; the room state is that Redis), they wait in the SDK's outbox and are resent.
    const whileDown = phase(10);
    await until(() => senders.every((s) => s.sent >= 20), 'the sends made while the bus is down', OUTAGE_MS);

    await (bus === 'nats' ? nats!.start() : redis!.start());
    const rightAfter = phase(10);
    await Promise.all([...whileDown, ...rightAfter]);
    await untilReadiness(nodes, 200, OUTAGE_MS);
    await Promise.all(phase(5));

    const acks = allAcks(senders);
    expect(acks.size).toBe(35 * senders.length);
    for (const m of members) {
      await m.received(acks.size, 30_000);
      expectExactlyOnce(acks, m.msgs, m.user);
      expect(m.gaps, `${m.user} had to skip messages`).toEqual([]);
    }
    for (const seq of range(acks.size)) await watcher.waitFor('msg', (f) => f['room'] === room && f['seq'] === seq, 30_000);
    await watcher.barrier();
    const seen = watcher.received('msg', (f) => f['room'] === room).map((f) => ({ seq: f['seq'] as number, cid: f['cid'] as string }));
    expectExactlyOnce(acks, seen, 'the watcher');
  }, 150_000);
});
