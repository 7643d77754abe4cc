import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient } from '../helpers/clients.js';
import { nodeFor } from '../helpers/fixtures.js';
import { FrameRecorder, type Push } from '../helpers/frame-recorder.js';

/** Batched frames on /ws (docs/protocol.md, "Batched frames"): negotiation, order, no loss. */

const BURST = 200;

const upgradeStatus = (url: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.on('error', (err) => reject(err));
  });

describe('/ws batched frames', () => {
  // A burst of sends from one connection is the point here, not the rate limit.
  const node = nodeFor({ RATE_PER_S: '10000', RATE_BURST: '10000' });
  const open: { close(): void }[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  const recorder = async (user: string, query: string) => {
    const r = await FrameRecorder.open(node(), await node().token(user), query);
    open.push({ close: () => r.ws.close() });
    return r;
  };
  const client = async (user: string) => {
    const c = await TestClient.connect('ws', node(), await node().token(user));
    open.push(c);
    return c;
  };

  it(`a burst of ${BURST} messages reaches a batch client in fewer frames, and a plain one in ${BURST} object frames, both in seq order`, async () => {
    const room = 'burst';
    const batched = await recorder('bt-batch', '&batch=1');
    const plain = await recorder('bt-plain', '');
    const sender = await client('bt-sender');
    for (const r of [batched, plain]) expect((await r.request('join', { room }))['ok']).toBe(true);
    await sender.join(room);
    const replies = await Promise.all(Array.from({ length: BURST }, (_, i) => sender.request('send', { room, cid: `c${i}`, body: `m${i}` })));
    expect(replies.every((r) => r.ok)).toBe(true);
    const all = Array.from({ length: BURST }, (_, i) => i + 1);
    for (const r of [batched, plain]) {
      await r.until(() => r.seqs().includes(BURST), 'the last message');
      // Anything still on its way (a duplicate, say) arrives before the reply to a later request.
      await r.request('ping');
      expect(r.seqs()).toEqual(all);
    }
    expect(batched.msgFrames().length).toBeLessThan(BURST);
    expect(batched.frames.some((f) => Array.isArray(f) && f.length > 1)).toBe(true);
    expect(plain.msgFrames()).toHaveLength(BURST);
    expect(plain.frames.every((f) => !Array.isArray(f))).toBe(true);
  });

  it("keeps a read push in its place among the room's messages, and skips the reader's own connection", async () => {
    const room = 'burst-read';
    const batched = await recorder('br-batch', '&batch=1');
    const plain = await recorder('br-plain', '');
    const readerBatched = await recorder('br-reader', '&batch=1');
    const sender = await client('br-sender');
    for (const r of [batched, plain, readerBatched]) expect((await r.request('join', { room }))['ok']).toBe(true);
    await sender.join(room);
    const burst = (from: number) =>
      Promise.all(Array.from({ length: 50 }, (_, i) => sender.request('send', { room, cid: `c${from + i}`, body: 'b' })));
    await burst(1);
    expect((await readerBatched.request('read', { room, seq: 50 }))['ok']).toBe(true);
    await burst(51);
    for (const r of [batched, plain, readerBatched]) await r.until(() => r.seqs().includes(100), 'the last message');
    for (const r of [batched, plain]) {
      const order = r.pushes.filter((p) => p.t === 'msg' || p.t === 'read').map((p) => (p.t === 'read' ? `read:${p.user}:${p.seq}` : p.seq));
      expect(order).toEqual([...Array.from({ length: 50 }, (_, i) => i + 1), 'read:br-reader:50', ...Array.from({ length: 50 }, (_, i) => i + 51)]);
    }
    await readerBatched.request('ping');
    expect(readerBatched.pushes.filter((p) => p.t === 'read')).toEqual([]);
    expect(readerBatched.seqs()).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('refuses a batch value other than 0 or 1 with HTTP 400; 0 and absent are the default', async () => {
    const token = encodeURIComponent(await node().token('bt-flag'));
    const refused = await upgradeStatus(`${node().wsUrl}?token=${token}&batch=yes`);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toEqual({ error: { code: 'bad_request', message: 'batch must be 0 or 1' } });
    // Checked before the token: a malformed request is refused as such either way.
    expect((await upgradeStatus(`${node().wsUrl}?batch=2`)).status).toBe(400);
    expect((await upgradeStatus(`${node().wsUrl}?token=${token}&batch=0`)).status).toBe(101);
    expect((await upgradeStatus(`${node().wsUrl}?token=${token}&batch=1`)).status).toBe(101);
  });

  it('stops batched pushes after leave, and a batch client still gets one-object replies and hello', async () => {
    const room = 'burst-leave';
    const batched = await recorder('bl-batch', '&batch=1');
    const sender = await client('bl-sender');
    expect(batched.frames[0]).toMatchObject({ t: 'hello', user: 'bl-batch' });
    expect((await batched.request('join', { room }))['ok']).toBe(true);
    await sender.join(room);
    await sender.send(room, 'before', 'x');
    await batched.until(() => batched.seqs().includes(1), 'the first message');
    expect((await batched.request('leave', { room }))['ok']).toBe(true);
    await sender.send(room, 'after', 'y');
    // The sender holds seq 2 once its own msg arrived; a round trip later nothing more came to the leaver.
    await sender.waitFor('msg', (f) => f['seq'] === 2);
    await batched.request('ping');
    expect(batched.seqs()).toEqual([1]);
    expect(batched.frames.filter((f) => !Array.isArray(f) && (f as Push).t === 'reply')).toHaveLength(3);
  });
});
