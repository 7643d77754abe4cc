import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import { spawnNode, type ProcessNode } from '../helpers/cluster.js';
import { requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';

describe.each(['nats', 'redis'] as const)('three gateway processes over %s', (bus) => {
  const nodes: ProcessNode[] = [];
  beforeAll(async () => {
    await requireRedis();
    await requireNats();
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222', BUS: bus, KEY_PREFIX: uniquePrefix(`cl_${bus}`) };
    nodes.push(...(await Promise.all(['n1', 'n2', 'n3'].map((id) => spawnNode(`${bus}-${id}`, env)))));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('clients on different nodes see one gap-free seq order with concurrent senders on every node', async () => {
    const room = 'cluster-room';
    const clients = await Promise.all(nodes.map(async (n, i) => TestClient.connect(i % 2 ? 'sio' : 'ws', n, await n.token(`u${i}`))));
    for (const c of clients) await c.join(room);
    const perClient = 30;
    await Promise.all(clients.map((c, i) => Promise.all(Array.from({ length: perClient }, (_, k) => c.send(room, `c${i}-${k}`, `from ${i}: ${k}`)))));
    const total = perClient * clients.length;
    for (const c of clients) {
      const seqs: number[] = [];
      for (let k = 0; k < total; k++) seqs.push((await c.waitFor('msg', (f) => f['room'] === room, 10_000))['seq'] as number);
      expect(seqs).toEqual(Array.from({ length: total }, (_, k) => k + 1));
    }
    for (const c of clients) c.close();
  });

  it('the same cid sent to two nodes is accepted once', async () => {
    const room = 'cluster-dedupe';
    const a = await TestClient.connect('ws', nodes[0]!, await nodes[0]!.token('same-user'));
    const b = await TestClient.connect('ws', nodes[1]!, await nodes[1]!.token('same-user'));
    await a.join(room);
    await b.join(room);
    const [ra, rb] = await Promise.all([a.send(room, 'one-cid', 'x'), b.send(room, 'one-cid', 'x')]);
    expect(ra.seq).toBe(rb.seq);
    expect([ra.dup, rb.dup].sort()).toEqual([false, true]);
    a.close();
    b.close();
  });
});
