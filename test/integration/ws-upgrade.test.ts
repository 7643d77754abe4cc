/**
 * Regression: a /ws connection must not be dropped right after its `hello`. The upgrade used
 * to run inside `res.cork()`, and uWS's cork reads the HTTP state of the socket after its
 * callback; when the WebSocket kept the socket's memory, that read was garbage and could shut
 * the new WebSocket down (1006 on both sides). Whether the memory is reused depends on the
 * heap, so this opens many connections one after another, as a reconnecting client does.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startNode, type TestNode } from '../helpers/node.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

/** One connection: hello, a ping round trip, a normal close. Returns the close code seen before our own close, if any. */
async function shortSession(token: string): Promise<number | undefined> {
  const ws = new WebSocket(`${node.wsUrl}?token=${encodeURIComponent(token)}`);
  let early: number | undefined;
  const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((early ??= code), resolve())));
  const frame = (): Promise<void> => new Promise((resolve) => {
    ws.once('message', () => resolve());
    void closed.then(resolve);
  });
  await frame(); // hello
  if (early !== undefined) return early;
  ws.send(JSON.stringify({ t: 'ping', rid: 1 }));
  await frame();
  if (early !== undefined) return early;
  ws.close(1000, 'bye');
  await closed;
  return early === 1000 ? undefined : early;
}

it('300 sequential /ws connections each get their hello and ping reply and close normally', async () => {
  const dropped: Array<[number, number]> = [];
  for (let i = 0; i < 300; i++) {
    const code = await shortSession(await node.token(`upgrade-${i}`));
    if (code !== undefined) dropped.push([i, code]);
  }
  expect(dropped).toEqual([]);
});
