import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/services-private.js';
import { busServices, closeMembers, expectExactlyOnce, GENEROUS_RATES, Member, pause, range, within, spawnNodes, until, type Bus, type BusServices } from './support.js';

// FLUSHALL mid-conversation on a private Redis under two gateway processes (docs/protocol.md,
// "Epoch"). Without persistence (REDIS_URL alone, so the Redis bus) nothing durable is left:
// the room's sequence starts again under a new epoch. With persistence (NATS_URL adds the
// JetStream queue) the room is restored in its epoch. NATS, when used, is private too.

const PER_SENDER = 12;
const PACE_MS = 30;

/** Two nodes over a private Redis, stopped in afterAll with the raw clients `connect` opened. */
function flushCluster(name: string, bus: Bus) {
  const nodes: ProcessNode[] = [];
  const clients: TestClient[] = [];
  let redis: PrivateRedis | undefined;
  let services: BusServices | undefined;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    services = await busServices(bus, redis.url);
    const env = { ...services.env, KEY_PREFIX: uniquePrefix(name), ...GENEROUS_RATES };
    nodes.push(...(await spawnNodes(['n1', 'n2'].map((id) => `${name}-${id}`), env)));
  }, 60_000);

  afterAll(async () => {
    await closeMembers();
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.close()));
    await services?.close();
    await redis?.close();
  });

  return {
    nodes,
    get redis(): PrivateRedis {
      if (!redis) throw new Error('the private Redis did not start');
      return redis;
    },
    async connect(kind: 'ws' | 'sio', node: ProcessNode, user: string): Promise<TestClient> {
      const c = await TestClient.connect(kind, node, await node.token(user));
      clients.push(c);
      return c;
    },
  };
}

describe('FLUSHALL on a Redis without persistence (redis bus)', () => {
  const cluster = flushCluster('flush_nopersist', 'redis');
  const { nodes } = cluster;
  const connect = cluster.connect.bind(cluster);

  it('the room starts a new epoch at seq 1 and no acknowledged seq is reused within an epoch', async () => {
    const room = 'flush-room';
    const [n1, n2] = nodes as [ProcessNode, ProcessNode];
    // Members are told to rejoin when the room's seqs start again (1001), so the talkers are SDK
    // clients: they reconnect, rejoin and resend what was unanswered with the same cid.
    const ann = await Member.join('ann', room, n1.wsUrl, await n1.token('ann'));
    const ben = await Member.join('ben', room, n2.wsUrl, await n2.token('ben'));
    const before = ann.client.position(room)!;

    // Both keep talking (each waits for its previous reply); the flush lands in the middle.
    const acks = new Map<string, number>();
    const talk = async (m: Member, name: string): Promise<void> => {
      for (let k = 0; k < PER_SENDER; k++) {
        const cid = `${name}-${k}`;
        acks.set(cid, (await within(m.client.send(room, `${name} says ${k}`, undefined, { cid }), `${name} sending ${k}`, 10_000)).seq);
        await pause(PACE_MS);
      }
    };
    const talking = [talk(ann, 'ann'), talk(ben, 'ben')];
    await until(() => acks.size >= 6, 'six sends acknowledged before the flush', 10_000);
    const lastBefore = Math.max(...acks.values());
    expect(await cluster.redis.command('FLUSHALL')).toBe('+OK');
    await Promise.all(talking);

    // A fresh connection joining now sees the new epoch.
    const cal = await connect('ws', n2, 'cal');
    const after = await cal.join(room);
    expect(after.epoch).not.toBe(before.epoch);
    // Resuming in the old epoch cannot recover anything, whatever `since` says.
    const resumed = await cal.request('join', { room, since: lastBefore, epoch: before.epoch });
    expect(resumed.ok).toBe(true);
    expect(resumed.data).toMatchObject({ epoch: after.epoch, recovered: false, messages: [] });

    // The new epoch holds gap-free seqs from 1, each one the seq its sender was acknowledged with.
    const page = await cal.request('history', { room, limit: 100 });
    const inNew = page.data.messages as { seq: number; cid: string }[];
    expect(inNew.length, 'sends acknowledged after the flush').toBeGreaterThan(0);
    expect(inNew.map((m) => m.seq)).toEqual(range(inNew.length));
    for (const m of inNew) expect(acks.get(m.cid), `ack of ${m.cid}`).toBe(m.seq);
    expect(after.head).toBe(inNew.length);
    // The rest were acknowledged in the old epoch: gap-free distinct seqs there too.
    const newCids = new Set(inNew.map((m) => m.cid));
    const old = [...acks].filter(([cid]) => !newCids.has(cid)).map(([, seq]) => seq);
    expect(old.sort((a, b) => a - b)).toEqual(range(old.length));
    expect(old.length).toBeGreaterThanOrEqual(6);
    expect(acks.size).toBe(2 * PER_SENDER);

    // New sends carry on from the new head, one by one.
    const next = [];
    for (let k = 0; k < 3; k++) next.push(((await cal.send(room, `cal-${k}`, `cal says ${k}`)) as { seq: number }).seq);
    expect(next).toEqual([inNew.length + 1, inNew.length + 2, inNew.length + 3]);
    const recovered = await cal.request('join', { room, since: 0, epoch: after.epoch });
    expect(recovered.data.recovered).toBe(true);
    expect(recovered.data.messages.map((m: { seq: number }) => m.seq)).toEqual(range(inNew.length + 3));
  }, 90_000);

  // Each node's room feed sees the new epoch on the bus and closes the room's members with 1001;
  // their rejoin with the old epoch answers recovered:false, which the SDK reports as a gap.
  it('an SDK member connected through the flush gets the new epoch\'s messages or is told of the loss', async () => {
    const room = 'flush-live';
    const [n1, n2] = nodes as [ProcessNode, ProcessNode];
    const fay = await Member.join('fay', room, n1.wsUrl, await n1.token('fay'));
    // The sender is a member too, so it is told to rejoin as well: an SDK client, which resends.
    const gil = await Member.join('gil', room, n2.wsUrl, await n2.token('gil'));
    const joined = gil.client.position(room)!;
    const say = async (cid: string, body: string) => (await gil.client.send(room, body, undefined, { cid })).seq;
    for (let k = 0; k < 4; k++) await say(`old-${k}`, `before the flush ${k}`);
    await fay.received(4, 10_000);
    expect(await cluster.redis.command('FLUSHALL')).toBe('+OK');
    const acked = new Map<string, number>();
    for (let k = 0; k < 6; k++) acked.set(`new-${k}`, await say(`new-${k}`, `after the flush ${k}`));
    expect([...acked.values()]).toEqual(range(6));

    const covered = (cid: string, seq: number) => fay.msgs.some((m) => m.cid === cid) || fay.gaps.some((g) => g.epoch !== joined.epoch && g.head >= seq);
    const uncovered = () => [...acked].filter(([cid, seq]) => !covered(cid, seq)).map(([cid]) => cid);
    await fay.when(() => uncovered().length === 0, 'every acknowledged message received or reported lost', 15_000).catch(() => undefined);
    expect(uncovered(), 'acknowledged, neither received nor reported lost').toEqual([]);
    expect(fay.gaps.some((g) => g.epoch !== joined.epoch), 'told of the new epoch').toBe(true);
  }, 60_000);
});

describe('FLUSHALL on the Redis of a persisted cluster (JetStream queue, nats bus)', () => {
  const cluster = flushCluster('flush_persist', 'nats');
  const { nodes } = cluster;
  const connect = cluster.connect.bind(cluster);

  it('the room keeps its epoch and carries on from its last acknowledged seq; a member misses nothing', async () => {
    const room = 'flush-persisted';
    const [n1, n2] = nodes as [ProcessNode, ProcessNode];
    const hana = await Member.join('hana', room, n1.wsUrl, await n1.token('hana'));
    const ivo = await connect('sio', n2, 'ivo');
    const joined = await ivo.join(room);
    const acks = new Map<string, number>();
    const say = async (k: number) => acks.set(`p-${k}`, ((await ivo.send(room, `p-${k}`, `said ${k}`)) as { seq: number }).seq);
    for (let k = 0; k < 5; k++) await say(k);
    await hana.received(5, 10_000);

    expect(await cluster.redis.command('FLUSHALL')).toBe('+OK');
    const fresh = await connect('ws', n1, 'jon');
    expect(await fresh.join(room)).toMatchObject({ epoch: joined.epoch, head: 5 });
    for (let k = 5; k < 10; k++) await say(k);
    expect([...acks.values()]).toEqual(range(10));

    await hana.received(10, 10_000);
    expectExactlyOnce(acks, hana.msgs, 'hana');
    expect(hana.gaps).toEqual([]);
  }, 60_000);
});
