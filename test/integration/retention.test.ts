import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import type { TestNode } from '../helpers/node.js';
import { eventually, persistedGateway } from './persist-support.js';
import { closeAll, sdk } from './sdk-support.js';

/**
 * RETENTION_DAYS with the whole durable path (docs/operations.md, "Retention and erasure"):
 * messages older than the retention (stored with old times, as the clock cannot be waited out)
 * are never read back — join with `since`, `history`, the admin history, the SDK — and the
 * worker's sweep deletes them from MongoDB (FerretDB has no TTL indexes), while newer ones stay.
 */
const DAY = 86_400_000;

describe('retention', () => {
  const gateway = persistedGateway('retain', { RETENTION_DAYS: '30', RETENTION_SWEEP_S: '1' });
  let node: TestNode;
  let database: Db;
  beforeAll(() => {
    ({ node, database } = gateway());
  });
  afterAll(closeAll);

  it('expired messages are gone from every read path and from MongoDB; the rest stays', async () => {
    const room = 'aging';
    const now = Date.now();
    const doc = (seq: number, ts: number) => ({ room, seq, cid: `c${seq}`, from: 'ann', body: `${ts < now - 30 * DAY ? 'expired' : 'kept'} ${seq}`, ts, at: new Date(ts) });
    // Written by the workers long ago: three messages past the retention, one within it.
    await database.collection('messages').insertMany([doc(1, now - 45 * DAY), doc(2, now - 40 * DAY), doc(3, now - 31 * DAY), doc(4, now - 29 * DAY)]);
    const ann = await TestClient.connect('ws', node, await node.token('ann'));
    const joined = await ann.join(room, { since: 0 });
    expect(joined.head).toBe(4);
    const sent = await ann.send(room, 'c5', 'kept 5');
    expect(sent.seq).toBe(5);

    const bob = await TestClient.connect('sio', node, await node.token('bob'));
    const back = await bob.join(room, { since: 0, epoch: joined.epoch });
    expect(back.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 5]);
    expect(back.recovered).toBe(false);
    for (const payload of [{ room }, { room, after: 0 }, { room, before: 5 }]) {
      const page = await bob.request('history', payload);
      expect(JSON.stringify(page.data), JSON.stringify(payload)).not.toContain('expired');
    }
    const latest = await bob.request('history', { room });
    expect((latest.data as { messages: { seq: number }[] }).messages.map((m) => m.seq)).toEqual([4, 5]);
    const admin = await node.admin('GET', `/admin/rooms/${room}/messages`);
    expect((admin.body as { messages: { seq: number }[] }).messages.map((m) => m.seq)).toEqual([4, 5]);
    const reader = sdk(node.wsUrl, { getToken: () => node.token('carol') });
    const viaSdk = await reader.join(room, { since: 0 });
    expect(viaSdk.messages.map((m) => m.seq)).toEqual([4, 5]);

    await eventually('the worker swept the expired messages', async () => {
      const seqs = (await database.collection('messages').find({ room }, { projection: { _id: 0, seq: 1 } }).sort({ seq: 1 }).toArray()).map((d) => d['seq'] as number);
      return { ok: seqs.join() === '4,5', seen: seqs };
    });
    ann.close();
    bob.close();
  });
});
