// Socket.IO clients across gateway processes that share Socket.IO's Redis adapter: room
// messages reach each connection exactly once (our bus fans out, the adapter must not add a
// second copy), and an admin disconnect reaches every node's Socket.IO sockets once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import { spawnNode, type ProcessNode } from '../helpers/cluster.js';
import { requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';

describe.each(['nats', 'redis'] as const)('Socket.IO across three gateway processes, bus %s', (bus) => {
  const nodes: ProcessNode[] = [];
  const node = (i: number): ProcessNode => {
    const n = nodes[i];
    if (!n) throw new Error(`node ${i} did not start`);
    return n;
  };
  beforeAll(async () => {
    await requireRedis();
    await requireNats();
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222', BUS: bus, KEY_PREFIX: uniquePrefix(`sio_${bus}`) };
    nodes.push(...(await Promise.all(['n1', 'n2', 'n3'].map((id) => spawnNode(`sio-${bus}-${id}`, env)))));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('a Socket.IO client on node 2 gets each message of the room once, sent from nodes 1 and 3', async () => {
    const room = `once-${bus}`;
    const connect = async (i: number, user: string) => TestClient.connect('sio', node(i), await node(i).token(user));
    const [sender1, receiver, sender3] = await Promise.all([connect(0, 'once-a'), connect(1, 'once-b'), connect(2, 'once-c')]);
    // A second Socket.IO member on node 2: a non-local emit would reach it twice as well.
    const receiver2 = await connect(1, 'once-d');
    const clients = [sender1, receiver, sender3, receiver2];
    for (const c of clients) await c.join(room);
    const perSender = 25;
    await Promise.all(
      [sender1, sender3].map((c, s) => Promise.all(Array.from({ length: perSender }, (_, k) => c.send(room, `s${s}-${k}`, `from ${s}: ${k}`)))),
    );
    const total = 2 * perSender;
    const expected = Array.from({ length: total }, (_, k) => k + 1);
    for (const c of clients) {
      for (let k = 0; k < total; k++) await c.waitFor('msg', (f) => f['room'] === room, 10_000);
      // Every push sent before the ping's reply has arrived: a second copy would be here now.
      await c.barrier();
      const seqs = c.received('msg', (f) => f['room'] === room).map((f) => f['seq'] as number);
      expect(seqs).toEqual(expected);
    }
    for (const c of clients) c.close();
  });

  it('an admin disconnect on node 1 closes the Socket.IO sockets on nodes 2 and 3 once, with the code', async () => {
    const user = `kicked-${bus}`;
    const onNode2 = await TestClient.connect('sio', node(1), await node(1).token(user));
    const onNode3 = await TestClient.connect('sio', node(2), await node(2).token(user));
    const native = await TestClient.connect('ws', node(0), await node(0).token(user));
    const bystander = await TestClient.connect('sio', node(1), await node(1).token(`${user}-bystander`));
    const answer = await node(0).admin('POST', `/admin/users/${user}/disconnect`, { code: 4321, reason: 'moved away' });
    expect(answer).toEqual({ status: 200, body: { disconnected: 3 } });
    for (const c of [onNode2, onNode3, native]) expect(await c.waitClosed()).toEqual({ code: 4321, reason: 'moved away' });
    for (const c of [onNode2, onNode3]) expect(c.received('bye')).toEqual([{ t: 'bye', code: 4321, reason: 'moved away' }]);
    await bystander.barrier();
    expect(bystander.received('bye')).toEqual([]);
    bystander.close();
  });
});
