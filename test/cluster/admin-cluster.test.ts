import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Kind } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { BUSES, busServices, spawnNodes, until, type BusServices } from './support.js';

// Admin answers cover the whole cluster (docs/admin-api.md, "Admin API"), whichever node is asked.
// Nothing here stops a service: the shared Redis serves, under a prefix of this file's, and for
// BUS=nats a private NATS (see busServices).

const NODE_TTL_S = 3;
const SLACK_MS = 15_000;

interface Stats {
  node: string;
  nodes: number;
  connections: number;
  rooms: number;
}

async function stats(node: ProcessNode): Promise<Stats> {
  const res = await node.admin('GET', '/admin/stats');
  expect(res.status).toBe(200);
  return res.body as Stats;
}

describe.each(BUSES)('admin API across three gateway processes (%s bus)', (bus) => {
  const nodes: ProcessNode[] = [];
  const clients: TestClient[] = [];
  let services: BusServices | undefined;

  beforeAll(async () => {
    services = await busServices(bus);
    const env = {
      ...services.env,
      KEY_PREFIX: uniquePrefix(`admin_${bus}`),
      NODE_TTL_S: String(NODE_TTL_S),
      PRESENCE_GRACE_S: '1',
    };
    nodes.push(...(await spawnNodes(['n1', 'n2', 'n3'].map((id) => `admin-${bus}-${id}`), env)));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.close()));
    await services?.close();
  });

  const connect = async (kind: Kind, node: ProcessNode, user: string): Promise<TestClient> => {
    const c = await TestClient.connect(kind, node, await node.token(user));
    clients.push(c);
    return c;
  };

  it('POST /admin/users/:user/disconnect on one node closes that user on the others with 4003', async () => {
    const [n1, n2, n3] = nodes as [ProcessNode, ProcessNode, ProcessNode];
    const onTwo = await connect('ws', n2, 'kicked');
    const onThree = await connect('sio', n3, 'kicked');
    const bystander = await connect('ws', n2, 'stays');
    const res = await n1.admin('POST', '/admin/users/kicked/disconnect', {});
    expect(res).toEqual({ status: 200, body: { disconnected: 2 } });
    expect((await onTwo.waitClosed(10_000)).code).toBe(4003);
    expect((await onThree.waitClosed(10_000)).code).toBe(4003);
    await bystander.barrier();
    bystander.close();
    // The user's connections are gone from the cluster's presence too.
    await until(async () => ((await n1.admin('GET', '/admin/users/kicked/presence')).body as { devices: number }).devices === 0, 'kicked has no devices left', 10_000);
  }, 60_000);

  it('/admin/stats on any node counts every node; a node killed with -9 drops out within NODE_TTL_S', async () => {
    const [n1, n2, n3] = nodes as [ProcessNode, ProcessNode, ProcessNode];
    // 1 + 2 + 3 connections on the three nodes, two of them in rooms.
    const plan: [ProcessNode, number][] = [[n1, 1], [n2, 2], [n3, 3]];
    const here: TestClient[] = [];
    for (const [node, count] of plan) {
      for (let i = 0; i < count; i++) here.push(await connect(i % 2 ? 'sio' : 'ws', node, `st-${node.nodeId}-${i}`));
    }
    await here[0]!.join('stats-room-a');
    await here[5]!.join('stats-room-b');
    // The kicked user of the test before may still be on its way out: wait for the exact count.
    await until(async () => (await stats(n1)).connections === 6, 'six connections in the stats', 10_000);
    for (const node of nodes) {
      expect(await stats(node)).toMatchObject({ node: node.nodeId, nodes: 3, connections: 6, rooms: 2 });
    }

    n3.kill('SIGKILL');
    await n3.exited;
    await until(async () => (await stats(n1)).nodes === 2, 'nodes = 2 on n1', NODE_TTL_S * 1000 + SLACK_MS);
    expect(await stats(n1)).toMatchObject({ nodes: 2, connections: 3 });
    expect(await stats(n2)).toMatchObject({ node: n2.nodeId, nodes: 2, connections: 3 });
    // Its room empties once the dead node's members are reaped (after PRESENCE_GRACE_S).
    await until(async () => (await stats(n2)).rooms === 1, 'rooms = 1 on n2', NODE_TTL_S * 1000 + SLACK_MS);
  }, 90_000);
});
