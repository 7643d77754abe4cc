import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/**
 * The join queue end to end: with one slot, every connection admission and every join of a
 * crowd arriving at once still gets its answer (they wait their turn; none is refused or lost),
 * and the memberships they set up are the ones a send reaches.
 */
let node: TestNode;
beforeAll(async () => {
  node = await startNode({ JOIN_CONCURRENCY: '1' });
});
afterAll(async () => {
  await node.close();
});

describe.each(KINDS)('%s: JOIN_CONCURRENCY=1', (kind) => {
  it('a crowd connecting and joining at once is admitted and joined, each connection’s rooms in order', async () => {
    const rooms = [`jq-a-${kind}`, `jq-b-${kind}`, `jq-c-${kind}`];
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => node.token(`jq-${kind}-${i}`)));
    const clients = await Promise.all(tokens.map((t) => TestClient.connect(kind, node, t)));
    // Every request is sent before any reply is awaited, a room twice on purpose (a rejoin).
    const replies = await Promise.all(clients.map((c) => Promise.all([...rooms, rooms[0]!].map((room) => c.request('join', { room })))));
    for (const perClient of replies) {
      expect(perClient.map((r) => r.ok)).toEqual([true, true, true, true]);
      expect(perClient.map((r) => (r.data as { room: string }).room)).toEqual([...rooms, rooms[0]]);
    }
    const last = await clients[0]!.join(rooms[1]!);
    expect(last).toMatchObject({ occupancy: 20 });
    expect(await clients[0]!.send(rooms[2]!, 'jq-1', 'to all')).toMatchObject({ seq: 1 });
    const got = await Promise.all(clients.map((c) => c.waitFor('msg', (f) => f['room'] === rooms[2])));
    expect(got.map((f) => f['body'])).toEqual(clients.map(() => 'to all'));
    for (const c of clients) c.close();
  });
});
