import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRoomState } from '../../src/rooms/state/redis-room-state.js';
import { TestClient, type Reply } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { startPrivateNats, startPrivateRedis, type PrivateRedis, type PrivateService } from '../helpers/services-private.js';
import { ToxiproxyServer, type Proxy } from '../helpers/toxiproxy.js';
import { allAcks, closeMembers, expectExactlyOnce, GENEROUS_RATES, Member, Sender, spawnNodes, within } from './support.js';

// The guarantees of docs/protocol.md that hinge on the room's sequence meeting the durable queue,
// each under the fault that used to break it: Redis coming back with an older copy of a room,
// a durable append that fails, a resend after Redis lost the room, and a quiet room whose last
// message the bus lost. Every service is private to this file.

interface Cluster {
  prefix: string;
  nodes: ProcessNode[];
  redis: PrivateRedis;
  nats: PrivateService;
  clients: TestClient[];
}

/** Two gateways on a private Redis and a private NATS (JetStream queue), `env` added. */
function cluster(name: string, env: (nats: PrivateService) => Record<string, string> | Promise<Record<string, string>>, ids = ['n1', 'n2']) {
  const c: Partial<Cluster> = { prefix: uniquePrefix(name), nodes: [], clients: [] };
  beforeAll(async () => {
    c.redis = await startPrivateRedis();
    c.nats = await startPrivateNats();
    const base = { REDIS_URL: c.redis.url, NATS_URL: c.nats.url, KEY_PREFIX: c.prefix ?? '', ...GENEROUS_RATES };
    c.nodes?.push(...(await spawnNodes(ids.map((id) => `${name}-${id}`), { ...base, ...(await env(c.nats)) })));
  }, 60_000);
  afterAll(async () => {
    await closeMembers();
    for (const client of c.clients ?? []) client.close();
    await Promise.all((c.nodes ?? []).map((n) => n.close()));
    await c.nats?.close();
    await c.redis?.close();
  });
  return c as Cluster;
}

async function connect(c: Cluster, node: ProcessNode, user: string): Promise<TestClient> {
  const client = await TestClient.connect('ws', node, await node.token(user));
  c.clients.push(client);
  return client;
}

/** The room's history through the admin API: every (seq, cid) stored, oldest first. */
async function stored(node: ProcessNode, room: string): Promise<{ seq: number; cid: string }[]> {
  const res = await node.admin('GET', `/admin/rooms/${room}/messages?limit=100`);
  expect(res.status).toBe(200);
  return (res.body as { messages: { seq: number; cid: string }[] }).messages.map((m) => ({ seq: m.seq, cid: m.cid }));
}

/**
 * Sends as a client does: again with the same cid while the answer is `overloaded` (the sender's
 * node may still be reconnecting to the queue), at most 5 times.
 */
async function resend(client: TestClient, fields: Record<string, unknown>): Promise<Reply> {
  let reply: Reply | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    reply = await client.request('send', fields, 15_000);
    if (reply.ok || reply.error?.code !== 'overloaded') return reply;
  }
  return reply as Reply;
}

/**
 * The message `late` (seq 2, body `body`) reached the member and the sender by itself; a resend
 * of it is a dup with its seq and ts; the next send is seq 3; every member holds 1, 2, 3 once and
 * in order, and so does the store.
 */
async function expectFinishedLate(node: ProcessNode, room: string, sender: TestClient, member: TestClient, cids: [string, string, string], body: string): Promise<void> {
  const [first, late, after] = cids;
  const got = await within(member.waitFor('msg', (f) => f['cid'] === late, 20_000), `${late} reaching a member`, 20_000);
  expect(got['seq']).toBe(2);
  await within(sender.waitFor('msg', (f) => f['cid'] === late, 10_000), `${late} reaching the sender`, 10_000);
  expect(await resend(sender, { room, cid: late, body })).toMatchObject({ ok: true, data: { seq: 2, dup: true, ts: got['ts'] } });
  expect((await resend(sender, { room, cid: after, body: 'third' })).data).toMatchObject({ seq: 3, dup: false });
  await member.waitFor('msg', (f) => f['cid'] === after);
  expect(member.pushes.filter((f) => f.t === 'msg').map((f) => f['seq'])).toEqual([1, 2, 3]);
  expect(await stored(node, room)).toEqual([
    { seq: 1, cid: first },
    { seq: 2, cid: late },
    { seq: 3, cid: after },
  ]);
}

describe('Redis restarted from an older snapshot', () => {
  const c = cluster('older_snapshot', () => ({ BUS: 'nats' }));

  it('the room is brought up to the durable queue: no seq reused, every message once and in order', async () => {
    const room = 'snapshot-room';
    const [n1, n2] = c.nodes as [ProcessNode, ProcessNode];
    const ann = await Member.join('ann', room, n1.wsUrl, await n1.token('ann'));
    const ben = await Member.join('ben', room, n2.wsUrl, await n2.token('ben'));
    const senders = [new Sender(ann.client, room, 'ann'), new Sender(ben.client, room, 'ben')];
    await Promise.all(senders.map((s) => s.run(5, 20)));
    expect(await c.redis.command('SAVE')).toBe('+OK');
    // Acknowledged after the snapshot: the restart brings back a room that never saw them.
    await Promise.all(senders.map((s) => s.run(5, 20)));
    await c.redis.restart();
    await Promise.all(senders.map((s) => s.run(5, 20)));
    const acks = allAcks(senders);
    expect(acks.size).toBe(30);
    for (const m of [ann, ben]) {
      await m.received(30, 20_000);
      expectExactlyOnce(acks, m.msgs, m.user);
    }
    expect(await stored(n1, room)).toEqual([...acks].map(([cid, seq]) => ({ seq, cid })).sort((a, b) => a.seq - b.seq));
  }, 90_000);
});

describe('the durable queue fails', () => {
  // The bus is Redis, so members stay reachable while JetStream is down.
  const c = cluster('queue_down', () => ({ BUS: 'redis' }));

  it('the sender gets overloaded, nobody sees the message until it is durable, then everyone does, once', async () => {
    const room = 'queue-room';
    const [n1, n2] = c.nodes as [ProcessNode, ProcessNode];
    const sender = await connect(c, n1, 'sam');
    const member = await connect(c, n2, 'mia');
    for (const client of [sender, member]) expect((await client.request('join', { room })).ok).toBe(true);
    expect((await sender.request('send', { room, cid: 'before', body: 'first' })).ok).toBe(true);
    await member.waitFor('msg', (f) => f['cid'] === 'before');

    await c.nats.stop();
    const failed: Reply = await sender.request('send', { room, cid: 'held', body: 'while the queue is down' }, 15_000);
    expect(failed).toMatchObject({ ok: false, error: { code: 'overloaded' } });
    // Not delivered, not readable: it is not durable.
    expect(sender.pushes.concat(member.pushes).filter((f) => f.t === 'msg' && f['cid'] === 'held')).toEqual([]);
    expect(await stored(n2, room)).toEqual([{ seq: 1, cid: 'before' }]);

    await c.nats.start();
    // The gateway finishes it by itself, without a resend: appended, then delivered to both.
    await expectFinishedLate(n1, room, sender, member, ['before', 'held', 'after'], 'while the queue is down');
  }, 90_000);
});

describe('a gateway dies between sequencing a message and its durable append', () => {
  const c = cluster('died_unfinished', () => ({ BUS: 'nats' }));

  it('the others finish it: appended, delivered late to every member, a resend answers its seq', async () => {
    const room = 'unfinished-room';
    const [n1, n2] = c.nodes as [ProcessNode, ProcessNode];
    const sender = await connect(c, n1, 'sam');
    const member = await connect(c, n2, 'mia');
    for (const client of [sender, member]) expect((await client.request('join', { room })).ok).toBe(true);
    expect((await sender.request('send', { room, cid: 'c1', body: 'one' })).ok).toBe(true);
    // What a gateway leaves when it dies right after the room state gave it seq 2: the message
    // is sequenced (pending) in Redis, and nothing else happened.
    const redis = new Redis(c.redis.url);
    try {
      const dead = new RedisRoomState(redis, { prefix: c.prefix, recentMax: 100 });
      const left = await dead.append({ room, from: 'sam', cid: 'c2', body: 'sequenced, then the gateway died', ts: Date.now() }, 600);
      expect(left.message.seq).toBe(2);
    } finally {
      redis.disconnect();
    }
    // No later message reveals it: the members' nodes finish it by themselves.
    await expectFinishedLate(n1, room, sender, member, ['c1', 'c2', 'c3'], 'sequenced, then the gateway died');
  }, 60_000);
});

describe('Redis loses the room (FLUSHALL) with the queue holding it', () => {
  const c = cluster('flush_dedupe', () => ({ BUS: 'nats' }));

  it('a resend of an acknowledged cid is still a duplicate, with its first seq and ts', async () => {
    const room = 'flush-dedupe';
    const [n1, n2] = c.nodes as [ProcessNode, ProcessNode];
    const sender = await connect(c, n1, 'sam');
    expect((await sender.request('join', { room })).ok).toBe(true);
    const first = await sender.request('send', { room, cid: 'c1', body: 'one' });
    await sender.request('send', { room, cid: 'c2', body: 'two' });
    expect(await c.redis.command('FLUSHALL')).toBe('+OK');
    const again = await connect(c, n2, 'sam');
    expect((await again.request('join', { room })).ok).toBe(true);
    const resent = await again.request('send', { room, cid: 'c1', body: 'one' });
    expect(resent).toMatchObject({ ok: true, data: { seq: 1, dup: true, ts: (first.data as { ts: number }).ts } });
    expect((await again.request('send', { room, cid: 'c3', body: 'three' })).data).toMatchObject({ seq: 3, dup: false });
    expect(await stored(n2, room)).toEqual([
      { seq: 1, cid: 'c1' },
      { seq: 2, cid: 'c2' },
      { seq: 3, cid: 'c3' },
    ]);
  }, 60_000);
});

describe("a quiet room whose last message a node's bus connection lost", () => {
  let toxiproxy: ToxiproxyServer | undefined;
  let link: Proxy | undefined;
  // n2 reaches NATS through a proxy this test cuts; n1 directly.
  const c = cluster('quiet_room', () => ({ BUS: 'nats' }), ['n1']);
  let n2: ProcessNode | undefined;
  beforeAll(async () => {
    toxiproxy = await ToxiproxyServer.start();
    link = await toxiproxy.createProxy('n2_nats', `127.0.0.1:${c.nats.port}`);
    const [node] = await spawnNodes(['quiet_room-n2'], { REDIS_URL: c.redis.url, NATS_URL: link.url('nats'), BUS: 'nats', KEY_PREFIX: c.prefix, ...GENEROUS_RATES });
    n2 = node;
  }, 60_000);
  afterAll(async () => {
    await n2?.close();
    await toxiproxy?.close();
  });

  it('is delivered within 2 s of the link coming back, with no later message to reveal it', async () => {
    const room = 'quiet-room';
    const n1 = c.nodes[0] as ProcessNode;
    const sender = await connect(c, n1, 'sam');
    const member = await connect(c, n2 as ProcessNode, 'mia');
    for (const client of [sender, member]) expect((await client.request('join', { room })).ok).toBe(true);
    expect((await sender.request('send', { room, cid: 'c1', body: 'one' })).ok).toBe(true);
    await member.waitFor('msg', (f) => f['cid'] === 'c1');
    await link?.disable();
    expect((await sender.request('send', { room, cid: 'c2', body: 'the last word' })).ok).toBe(true);
    await link?.enable();
    const healed = Date.now();
    await within(member.waitFor('msg', (f) => f['cid'] === 'c2'), 'the last message after the link came back', 10_000);
    // The NATS client reconnects within its reconnect wait (250 ms); the watch finds the gap.
    expect(Date.now() - healed).toBeLessThan(2_500);
  }, 60_000);
});
