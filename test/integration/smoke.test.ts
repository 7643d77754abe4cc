import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

describe.each(KINDS)('%s: join, send, receive', (kind) => {
  it('delivers a message to the sender and another member with one seq', async () => {
    const room = `smoke-${kind}`;
    const a = await TestClient.connect(kind, node, await node.token('alice'));
    const b = await TestClient.connect(kind, node, await node.token('bob'));
    expect(a.hello).toMatchObject({ t: 'hello', user: 'alice', heartbeat: 25 });
    const ja = await a.join(room);
    expect(ja).toMatchObject({ room, head: 0, lastRead: 0, unread: 0, occupancy: 1, messages: [], recovered: false });
    await b.join(room);
    await a.waitFor('presence', (f) => f['user'] === 'bob' && f['status'] === 'online');
    const sent = await a.send(room, 'c1', 'hello');
    expect(sent).toMatchObject({ room, cid: 'c1', seq: 1, dup: false });
    const ma = await a.waitFor('msg');
    const mb = await b.waitFor('msg');
    expect(ma).toEqual({ t: 'msg', room, seq: 1, cid: 'c1', from: 'alice', body: 'hello', ts: sent.ts });
    expect(mb).toEqual(ma);
    const dup = await a.send(room, 'c1', 'hello again');
    expect(dup).toEqual({ ...sent, dup: true });
    a.close();
    b.close();
  });
});

it('a native and a Socket.IO client share a room and see the same seqs', async () => {
  const room = 'mixed';
  const w = await TestClient.connect('ws', node, await node.token('w'));
  const s = await TestClient.connect('sio', node, await node.token('s'));
  await w.join(room);
  await s.join(room);
  for (let i = 0; i < 5; i++) {
    await (i % 2 ? w : s).send(room, `m${i}`, `body ${i}`);
  }
  const seqW: unknown[] = [];
  const seqS: unknown[] = [];
  for (let i = 0; i < 5; i++) {
    seqW.push((await w.waitFor('msg'))['seq']);
    seqS.push((await s.waitFor('msg'))['seq']);
  }
  expect(seqW).toEqual([1, 2, 3, 4, 5]);
  expect(seqS).toEqual(seqW);
  w.close();
  s.close();
});
