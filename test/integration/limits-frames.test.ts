import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, "Limits and backpressure" (MAX_FRAME_BYTES) and "Frames" (MAX_BAD_FRAMES). */

const MAX_FRAME = 2048;
const MAX_BODY = 1024;

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ MAX_FRAME_BYTES: String(MAX_FRAME), MAX_BODY_BYTES: String(MAX_BODY), MAX_BAD_FRAMES: '3' });
});
afterAll(async () => {
  await node.close();
});

describe.each(KINDS)('%s: frame size', (kind) => {
  it('answers a body over MAX_BODY_BYTES in a frame under MAX_FRAME_BYTES with too_large and stays open', async () => {
    const room = `big-body-${kind}`;
    const c = await TestClient.connect(kind, node, await node.token(`bb-${kind}`));
    await c.join(room);
    const r = await c.request('send', { room, cid: 'c1', body: 'x'.repeat(MAX_BODY + 1) });
    expect(r).toMatchObject({ ok: false, error: { code: 'too_large' } });
    // A body of exactly the limit is fine: the limit is on UTF-8 bytes, inclusive.
    expect(await c.send(room, 'c2', 'x'.repeat(MAX_BODY))).toMatchObject({ seq: 1 });
    await c.barrier();
    c.close();
  });

  it('closes the connection on a frame over MAX_FRAME_BYTES', async () => {
    const room = `big-frame-${kind}`;
    const c = await TestClient.connect(kind, node, await node.token(`bf-${kind}`));
    await c.join(room);
    // The body is bad anyway (too_large): only the frame size can close the connection.
    c.fire('send', { room, cid: 'c1', body: 'y'.repeat(MAX_FRAME + 100) });
    const closed = await c.waitClosed();
    if (kind === 'ws') expect([1009, 1006]).toContain(closed.code);
    expect(c.received('error')).toEqual([]);
  });
});

describe.each(KINDS)('%s: bad frames', (kind) => {
  it('answers each bad frame with bad_request and closes with 4400 at MAX_BAD_FRAMES', async () => {
    const c = await TestClient.connect(kind, node, await node.token(`bad-${kind}`));
    const first = await c.request('join', { room: 'has a space' });
    expect(first).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    const second = await c.request('no_such_type', {});
    expect(second).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    // Two bad frames: still open, good frames still answered.
    await c.barrier();
    expect(c.received('bye')).toEqual([]);
    // A bad frame without rid gets an `error` push, then the third one closes.
    c.fire('history', { room: 'ok-room', limit: 0 });
    const err = await c.waitFor('error');
    expect(err).toMatchObject({ code: 'bad_request' });
    expect(await c.waitClosed()).toMatchObject({ code: 4400 });
  });

  it('counts a too_large frame as bad', async () => {
    const room = `bad-large-${kind}`;
    const c = await TestClient.connect(kind, node, await node.token(`badl-${kind}`));
    await c.join(room);
    for (let i = 0; i < 3; i++) {
      const r = await c.request('send', { room, cid: `c${i}`, body: 'z'.repeat(MAX_BODY + 1) }).catch(() => undefined);
      if (i < 2) expect(r).toMatchObject({ ok: false, error: { code: 'too_large' } });
    }
    expect(await c.waitClosed()).toMatchObject({ code: 4400 });
  });
});

describe('ws: bad frames only /ws can send', () => {
  it('counts invalid JSON, non-objects and binary frames', async () => {
    const c = await TestClient.connect('ws', node, await node.token('bad-raw'));
    c.sendText('{not json');
    expect(await c.waitFor('error')).toMatchObject({ code: 'bad_request' });
    c.sendText('[1,2,3]');
    expect(await c.waitFor('error')).toMatchObject({ code: 'bad_request' });
    await c.barrier();
    c.sendText('"just a string"');
    expect(await c.waitFor('error')).toMatchObject({ code: 'bad_request' });
    expect(await c.waitClosed()).toMatchObject({ code: 4400 });
  });

  it('answers a frame with an invalid rid with an error push, not a reply', async () => {
    const c = await TestClient.connect('ws', node, await node.token('bad-rid'));
    c.sendText(JSON.stringify({ t: 'ping', rid: 'r'.repeat(65) }));
    expect(await c.waitFor('error')).toMatchObject({ code: 'bad_request' });
    c.sendText(JSON.stringify({ t: 'ping', rid: 1.5 }));
    expect(await c.waitFor('error')).toMatchObject({ code: 'bad_request' });
    await c.barrier();
    c.close();
  });
});
