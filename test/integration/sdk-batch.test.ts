/**
 * The SDK with batched frames (its default) against a real node: it connects with `?batch=1`,
 * takes a burst as array frames and delivers every message once, in seq order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ParleyClient } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { Inbox, closeAll, range, sdk } from './sdk-support.js';

let node: TestNode;
beforeAll(async () => {
  // The burst comes from one connection: the rate limit is not under test here.
  node = await startNode({ RATE_PER_S: '10000', RATE_BURST: '10000' });
});
afterEach(closeAll);
afterAll(async () => {
  await node.close();
});

/** A `ws` WebSocket that also keeps the URL it dialled and every text frame as it came. */
function recordingSocket() {
  const seen = { urls: [] as string[], frames: [] as string[] };
  class RecordingWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      seen.urls.push(url);
      this.on('message', (data: Buffer) => seen.frames.push(data.toString('utf8')));
    }
  }
  return { seen, WebSocket: RecordingWebSocket };
}

const BURST = 200;

describe('SDK with batched frames', () => {
  it(`asks for batches and delivers a burst of ${BURST} once each, in seq order, from array frames`, async () => {
    const room = 'sdk-burst';
    const rec = recordingSocket();
    const reader: ParleyClient = sdk(node.wsUrl, { getToken: () => node.token('sdk-batch-reader') }, { WebSocket: rec.WebSocket });
    const writer: ParleyClient = sdk(node.wsUrl, { getToken: () => node.token('sdk-batch-writer') });
    const inbox = new Inbox(reader);
    await reader.join(room);
    await writer.join(room);
    const sent = await Promise.all(range(BURST).map((i) => writer.send(room, `m${i}`)));
    expect(sent.map((s) => s.seq).sort((a, b) => a - b)).toEqual(range(BURST));
    await inbox.waitCount(room, BURST);
    // A round trip later, nothing more (no duplicate) came.
    await reader.ping();
    expect(inbox.seqs(room)).toEqual(range(BURST));
    expect(new URL(rec.seen.urls[0]!).searchParams.get('batch')).toBe('1');
    const arrays = rec.seen.frames.filter((f) => f.startsWith('['));
    expect(arrays.length).toBeGreaterThan(0);
    const msgFrames = rec.seen.frames.filter((f) => f.includes('"t":"msg"'));
    expect(msgFrames.length).toBeLessThan(BURST);
  });

  it('with batch: false, connects without the flag and still gets every message in order', async () => {
    const room = 'sdk-burst-plain';
    const rec = recordingSocket();
    const reader = sdk(node.wsUrl, { getToken: () => node.token('sdk-plain-reader') }, { WebSocket: rec.WebSocket, batch: false });
    const writer = sdk(node.wsUrl, { getToken: () => node.token('sdk-plain-writer') });
    const inbox = new Inbox(reader);
    await reader.join(room);
    await writer.join(room);
    await Promise.all(range(50).map((i) => writer.send(room, `m${i}`)));
    await inbox.waitCount(room, 50);
    await reader.ping();
    expect(inbox.seqs(room)).toEqual(range(50));
    expect(new URL(rec.seen.urls[0]!).searchParams.has('batch')).toBe(false);
    expect(rec.seen.frames.some((f) => f.startsWith('['))).toBe(false);
  });
});
