// Batched frames when the messages come over the bus: a burst sent on one gateway process
// reaches a /ws batch client on another in fewer frames than messages, and a plain client
// there in one object frame per message, both complete and in seq order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import { spawnNode, type ProcessNode } from '../helpers/cluster.js';
import { FrameRecorder } from '../helpers/frame-recorder.js';
import { requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';

const BURST = 200;

describe.each(['nats', 'redis'] as const)('/ws batched frames across two gateway processes, bus %s', (bus) => {
  const nodes: ProcessNode[] = [];
  const node = (i: number): ProcessNode => {
    const n = nodes[i];
    if (!n) throw new Error(`node ${i} did not start`);
    return n;
  };
  beforeAll(async () => {
    await requireRedis();
    await requireNats();
    const env = {
      REDIS_URL: 'redis://127.0.0.1:6379',
      NATS_URL: 'nats://127.0.0.1:4222',
      BUS: bus,
      KEY_PREFIX: uniquePrefix(`batch_${bus}`),
      // The burst comes from one connection: the rate limit is not under test here.
      RATE_PER_S: '10000',
      RATE_BURST: '10000',
    };
    nodes.push(...(await Promise.all(['n1', 'n2'].map((id) => spawnNode(`batch-${bus}-${id}`, env)))));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it(`a burst of ${BURST} from node 1 reaches node 2's batch client in fewer frames, and its plain client in ${BURST}`, async () => {
    const room = `burst-${bus}`;
    const batched = await FrameRecorder.open(node(1), await node(1).token('x-batch'), '&batch=1');
    const plain = await FrameRecorder.open(node(1), await node(1).token('x-plain'), '');
    const sender = await TestClient.connect('ws', node(0), await node(0).token('x-sender'));
    try {
      for (const r of [batched, plain]) expect((await r.request('join', { room }))['ok']).toBe(true);
      await sender.join(room);
      const replies = await Promise.all(Array.from({ length: BURST }, (_, i) => sender.request('send', { room, cid: `c${i}`, body: `m${i}` }, 15_000)));
      expect(replies.filter((r) => !r.ok)).toEqual([]);
      const all = Array.from({ length: BURST }, (_, i) => i + 1);
      for (const r of [batched, plain]) {
        await r.until(() => r.seqs().includes(BURST), 'the last message');
        await r.request('ping');
        expect(r.seqs()).toEqual(all);
      }
      expect(batched.msgFrames().length).toBeLessThan(BURST);
      expect(plain.msgFrames()).toHaveLength(BURST);
    } finally {
      sender.close();
      batched.ws.close();
      plain.ws.close();
    }
  });
});
