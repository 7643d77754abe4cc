import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { expectError } from './http-support.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

const post = (room: string, body: unknown) => node.admin('POST', `/admin/rooms/${room}/messages`, body);
const get = (room: string, query = '') => node.admin('GET', `/admin/rooms/${room}/messages${query}`);

describe('GET /admin/rooms/:room/messages', () => {
  const room = 'adm-hist';
  beforeAll(async () => {
    const c = await TestClient.connect('ws', node, await node.token('hist-writer'));
    await c.join(room);
    for (let i = 1; i <= 5; i++) await c.send(room, `h${i}`, `body ${i}`);
    c.close();
  });

  it('without parameters: the newest messages, oldest first, more:false', async () => {
    const answer = await get(room);
    expect(answer.status).toBe(200);
    const body = answer.body as any;
    expect(body.room).toBe(room);
    expect(body.more).toBe(false);
    expect(body.messages.map((m: any) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(body.messages[0]).toEqual({ room, seq: 1, cid: 'h1', from: 'hist-writer', body: 'body 1', ts: expect.any(Number) });
  });

  it.each([
    ['?limit=2', [4, 5], true],
    ['?before=4&limit=2', [2, 3], true],
    ['?before=3&limit=2', [1, 2], false],
    ['?before=2', [1], false],
    ['?before=1', [], false],
    ['?before=100&limit=100', [1, 2, 3, 4, 5], false],
    ['?limit=5', [1, 2, 3, 4, 5], false],
    ['?limit=4', [2, 3, 4, 5], true],
  ] as const)('%s gives seqs %j with more=%s', async (query, seqs, more) => {
    const body = (await get(room, query)).body as any;
    expect(body.messages.map((m: any) => m.seq)).toEqual(seqs);
    expect(body.more).toBe(more);
  });

  it('an unknown room has no messages', async () => {
    expect(await get('adm-hist-empty')).toEqual({ status: 200, body: { room: 'adm-hist-empty', messages: [], more: false } });
  });

  it.each(['?limit=0', '?limit=101', '?limit=-5', '?limit=ten', '?before=0', '?before=-1', '?before=1.5', '?before=x', '?before=99999999999999999999'])(
    'refuses %s with 400 bad_request (never clamped)',
    async (query) => {
      expectError(await get(room, query), 400, 'bad_request');
    },
  );
});

describe('POST /admin/rooms/:room/messages', () => {
  it.each(KINDS)('delivers to every member (incl. a %s client) as from "system" by default', async (kind) => {
    const room = `adm-post-${kind}`;
    const other = kind === 'ws' ? 'sio' : 'ws';
    const a = await TestClient.connect(kind, node, await node.token('post-a'));
    const b = await TestClient.connect(other, node, await node.token('post-b'));
    await a.join(room);
    await b.join(room);
    const answer = await post(room, { cid: 'sys-1', body: 'maintenance at noon' });
    expect(answer.status).toBe(200);
    const sent = answer.body as any;
    expect(sent).toEqual({ room, cid: 'sys-1', seq: 1, ts: expect.any(Number), dup: false });
    const expected = { t: 'msg', room, seq: 1, cid: 'sys-1', from: 'system', body: 'maintenance at noon', ts: sent.ts };
    expect(await a.waitFor('msg')).toEqual(expected);
    expect(await b.waitFor('msg')).toEqual(expected);
    // Stored like any message.
    expect(((await get(room)).body as any).messages).toEqual([{ room, seq: 1, cid: 'sys-1', from: 'system', body: 'maintenance at noon', ts: sent.ts }]);
    a.close();
    b.close();
  });

  it('takes from and meta, and shares the room sequence with client sends', async () => {
    const room = 'adm-post-from';
    const c = await TestClient.connect('sio', node, await node.token('post-c'));
    await c.join(room);
    await c.send(room, 'first', 'from a client');
    const answer = await post(room, { cid: 'bot-1', body: 'beep', from: 'ops-bot', meta: { kind: 'notice', n: 1 } });
    expect(answer.body).toMatchObject({ room, cid: 'bot-1', seq: 2, dup: false });
    await c.waitFor('msg', (f) => f['seq'] === 1);
    expect(await c.waitFor('msg')).toEqual({
      t: 'msg', room, seq: 2, cid: 'bot-1', from: 'ops-bot', body: 'beep', meta: { kind: 'notice', n: 1 }, ts: (answer.body as any).ts,
    });
    c.close();
  });

  it('dedupes by (from, room, cid): dup:true with the first seq and ts, delivered once', async () => {
    const room = 'adm-post-dedupe';
    const c = await TestClient.connect('ws', node, await node.token('dd-user'));
    await c.join(room);
    const first = (await post(room, { cid: 'same', body: 'one' })).body as any;
    const again = await post(room, { cid: 'same', body: 'two' });
    expect(again).toEqual({ status: 200, body: { ...first, dup: true } });
    // Another sender with the same cid is another message; so is the same cid in another room.
    expect((await post(room, { cid: 'same', body: 'three', from: 'someone-else' })).body).toMatchObject({ seq: 2, dup: false });
    expect((await post('adm-post-dedupe-2', { cid: 'same', body: 'four' })).body).toMatchObject({ seq: 1, dup: false });
    // A user's own send and an admin post in their name share the key.
    const own = await c.send(room, 'mine', 'by the client');
    expect((await post(room, { cid: 'mine', body: 'replayed', from: 'dd-user' })).body).toEqual({ ...own, dup: true });
    await c.barrier();
    expect(c.received('msg').map((f) => [f['seq'], f['from'], f['body']])).toEqual([
      [1, 'system', 'one'],
      [2, 'someone-else', 'three'],
      [3, 'dd-user', 'by the client'],
    ]);
    c.close();
  });

  it('accepts a body of exactly MAX_BODY_BYTES UTF-8 bytes and refuses one byte more with too_large', async () => {
    const room = 'adm-post-size';
    const max = node.config.limits.maxBodyBytes;
    const exact = 'é'.repeat(max / 2);
    expect((await post(room, { cid: 'fits', body: exact })).body).toMatchObject({ seq: 1, dup: false });
    const over = await post(room, { cid: 'over', body: `${exact}x` });
    expect([400, 413]).toContain(over.status);
    expectError(over, over.status, 'too_large');
    const bigMeta = await post(room, { cid: 'meta', body: 'x', meta: { pad: 'm'.repeat(1100) } });
    expect([400, 413]).toContain(bigMeta.status);
    expectError(bigMeta, bigMeta.status, 'too_large');
    // Only the fitting message was stored.
    expect(((await get(room)).body as any).messages.map((m: any) => m.cid)).toEqual(['fits']);
  });

  it.each([
    ['invalid JSON', '{"cid": "a", "body": '],
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
    ['an empty body', ''],
    ['a missing cid', { body: 'x' }],
    ['a cid with a space', { cid: 'a b', body: 'x' }],
    ['a cid over 64 chars', { cid: 'c'.repeat(65), body: 'x' }],
    ['a missing body', { cid: 'c1' }],
    ['a non-string body', { cid: 'c1', body: 42 }],
    ['an empty from', { cid: 'c1', body: 'x', from: '' }],
    ['a non-string from', { cid: 'c1', body: 'x', from: 7 }],
    ['a from over 128 chars', { cid: 'c1', body: 'x', from: 'f'.repeat(129) }],
    ['a meta that is not an object', { cid: 'c1', body: 'x', meta: [1] }],
  ])('refuses %s with 400 bad_request and stores nothing', async (_label, payload) => {
    const room = 'adm-post-bad';
    expectError(await post(room, payload), 400, 'bad_request');
    expect((await get(room)).body).toEqual({ room, messages: [], more: false });
  });
});
