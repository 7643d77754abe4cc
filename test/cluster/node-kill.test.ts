import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { allAcks, BUSES, busServices, closeMembers, expectExactlyOnce, GENEROUS_RATES, Member, range, Sender, spawnNodes, type BusServices } from './support.js';

// A gateway process dies without a word (kill -9). The services stay up: the shared Redis
// under a prefix of this file's, and for BUS=nats a private NATS (see busServices).

const NODE_TTL_S = 3;
const SLACK_MS = 15_000;
const PER_SENDER = 40;
const PACE_MS = 40;

describe.each(BUSES)('kill -9 one of three gateway processes (%s bus)', (bus) => {
  const nodes: ProcessNode[] = [];
  const raw: TestClient[] = [];
  let lb: Balancer;
  let services: BusServices | undefined;

  beforeAll(async () => {
    services = await busServices(bus);
    const env = {
      ...services.env,
      KEY_PREFIX: uniquePrefix(`kill_${bus}`),
      NODE_TTL_S: String(NODE_TTL_S),
      PRESENCE_GRACE_S: '1',
      ...GENEROUS_RATES,
    };
    nodes.push(...(await spawnNodes(['n1', 'n2', 'n3'].map((id) => `kill-${bus}-${id}`), env)));
    lb = await startBalancer(nodes.map((n) => n.port));
  }, 60_000);

  afterAll(async () => {
    await closeMembers();
    for (const c of raw) c.close();
    await lb?.close();
    await Promise.all(nodes.map((n) => n.close()));
    await services?.close();
  });

  it('its users go offline on the others; its SDK clients resume on another node with nothing lost or duplicated', async () => {
    const room = 'kill-room';
    const [n1, , n3] = nodes as [ProcessNode, ProcessNode, ProcessNode];
    // Raw clients straight to a node: a watcher that survives, and a user who dies with n3.
    const watcher = await TestClient.connect('ws', n1, await n1.token('watcher'));
    raw.push(watcher);
    await watcher.join(room);
    const doomed = await TestClient.connect('sio', n3, await n3.token('doomed'));
    raw.push(doomed);
    await doomed.join(room);
    await watcher.waitFor('presence', (f) => f['user'] === 'doomed' && f['status'] === 'online', 10_000);

    // Joined one after the other through the round-robin balancer: one member per node.
    const members: Member[] = [];
    for (const user of ['amy', 'bob', 'cat']) members.push(await Member.join(user, room, lb.wsUrl, await n1.token(user)));
    const onVictim = members.filter((m) => m.node === n3.nodeId);
    expect(onVictim.length, `members on ${n3.nodeId}: ${members.map((m) => m.node).join(', ')}`).toBeGreaterThan(0);

    const senders = members.map((m) => new Sender(m.client, room, m.user));
    const runs = senders.map((s) => s.run(PER_SENDER, PACE_MS));
    await Promise.all(senders.map((s) => s.acked(8, 20_000)));
    n3.kill('SIGKILL');
    const offlineBy = Date.now() + NODE_TTL_S * 1000 + SLACK_MS;

    await Promise.all(onVictim.map((m) => m.when(() => m.hellos.length > 1, 'a hello from another node', 20_000)));
    for (const m of onVictim) expect(m.node).not.toBe(n3.nodeId);
    await watcher.waitFor('presence', (f) => f['user'] === 'doomed' && f['status'] === 'offline', Math.max(1, offlineBy - Date.now()));
    expect((await n3.exited).signal).toBe('SIGKILL');

    await Promise.all(runs);
    const acks = allAcks(senders);
    expect(acks.size).toBe(PER_SENDER * senders.length);
    for (const m of members) {
      await m.received(acks.size, 30_000);
      expectExactlyOnce(acks, m.msgs, m.user);
      expect(m.gaps, `${m.user} had to skip messages`).toEqual([]);
    }
    // The watcher never reconnected: the server itself delivered each message once, in order.
    for (const seq of range(acks.size)) await watcher.waitFor('msg', (f) => f['room'] === room && f['seq'] === seq, 30_000);
    await watcher.barrier();
    const seen = watcher.received('msg', (f) => f['room'] === room).map((f) => ({ seq: f['seq'] as number, cid: f['cid'] as string }));
    expectExactlyOnce(acks, seen, 'the watcher');
  }, 120_000);
});
