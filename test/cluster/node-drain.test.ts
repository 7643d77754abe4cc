import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { allAcks, BUSES, busServices, closeMembers, expectExactlyOnce, GENEROUS_RATES, Member, Sender, spawnNodes, within, type BusServices } from './support.js';

// SIGTERM drains a gateway (README.md, "Operations"): clients get 1001 after DRAIN_S and the process
// exits 0. Nothing here stops a service: the shared Redis serves, under a prefix, and for
// BUS=nats a private NATS (see busServices).

const PER_SENDER = 60;
const PACE_MS = 40;

describe.each(BUSES)('SIGTERM one of three gateway processes (%s bus)', (bus) => {
  const nodes: ProcessNode[] = [];
  const raw: TestClient[] = [];
  let lb: Balancer;
  let services: BusServices | undefined;

  beforeAll(async () => {
    services = await busServices(bus);
    const env = {
      ...services.env,
      KEY_PREFIX: uniquePrefix(`drain_${bus}`),
      DRAIN_S: '1',
      ...GENEROUS_RATES,
    };
    nodes.push(...(await spawnNodes(['n1', 'n2', 'n3'].map((id) => `drain-${bus}-${id}`), env)));
    lb = await startBalancer(nodes.map((n) => n.port));
  }, 60_000);

  afterAll(async () => {
    await closeMembers();
    for (const c of raw) c.close();
    await lb?.close();
    await Promise.all(nodes.map((n) => n.close()));
    await services?.close();
  });

  it('its clients get 1001, move to another node and lose nothing; the process exits 0', async () => {
    const room = 'drain-room';
    const [n1, , n3] = nodes as [ProcessNode, ProcessNode, ProcessNode];
    const direct = await TestClient.connect('ws', n3, await n3.token('direct'));
    raw.push(direct);
    await direct.join(room);

    const members: Member[] = [];
    for (const user of ['dan', 'eve', 'fay']) members.push(await Member.join(user, room, lb.wsUrl, await n1.token(user)));
    const onDrained = members.filter((m) => m.node === n3.nodeId);
    expect(onDrained.length, `members on ${n3.nodeId}: ${members.map((m) => m.node).join(', ')}`).toBeGreaterThan(0);

    const senders = members.map((m) => new Sender(m.client, room, m.user));
    const runs = senders.map((s) => s.run(PER_SENDER, PACE_MS));
    await Promise.all(senders.map((s) => s.acked(8, 20_000)));
    n3.kill('SIGTERM');

    expect((await direct.waitClosed(15_000)).code).toBe(1001);
    for (const m of onDrained) {
      await m.when(() => m.closeCodes.includes(1001), 'close 1001', 15_000);
      await m.when(() => m.hellos.length > 1, 'a hello from another node', 20_000);
      expect(m.node).not.toBe(n3.nodeId);
    }
    expect(await within(n3.exited, `${n3.nodeId} to exit`, 30_000)).toEqual({ code: 0, signal: null });

    await Promise.all(runs);
    const acks = allAcks(senders);
    expect(acks.size).toBe(PER_SENDER * senders.length);
    for (const m of members) {
      await m.received(acks.size, 30_000);
      expectExactlyOnce(acks, m.msgs, m.user);
      expect(m.gaps, `${m.user} had to skip messages`).toEqual([]);
    }
  }, 120_000);
});
