import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Kind } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';

/** docs/protocol.md, "Frames": bad frames get bad_request or too_large; frames without rid get `error` pushes. */

const MAX_BODY_BYTES = 4096; // the default
const MAX_META_BYTES = 1024;

let node: TestNode;
beforeAll(async () => {
  // Many bad frames per connection here: closing at MAX_BAD_FRAMES is tested elsewhere.
  node = await startNode({ MAX_BAD_FRAMES: '1000' });
});
afterAll(async () => {
  await node.close();
});

const open: TestClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function joined(kind: Kind, user: string, room: string): Promise<TestClient> {
  const c = await TestClient.connect(kind, node, await node.token(user));
  open.push(c);
  await c.join(room);
  return c;
}

async function expectCode(c: TestClient, code: string, cases: [string, Record<string, unknown>][]): Promise<void> {
  for (const [t, payload] of cases) {
    expect(await c.request(t, payload), `${t} ${JSON.stringify(payload).slice(0, 80)}`).toMatchObject({ ok: false, error: { code, message: expect.any(String) } });
  }
  // Bad frames leave the connection open.
  await c.barrier();
}

describe.each(KINDS)('%s: bad_request', (kind) => {
  it('answers an unknown t', async () => {
    const c = await joined(kind, `bu-${kind}`, `bad-unknown-${kind}`);
    await expectCode(c, 'bad_request', [['nope', {}], ['Ping', {}], ['reply', {}], ['hello', {}]]);
  });

  it('answers missing fields', async () => {
    const room = `bad-missing-${kind}`;
    const c = await joined(kind, `bm-${kind}`, room);
    await expectCode(c, 'bad_request', [
      ['join', {}],
      ['leave', {}],
      ['send', { cid: 'c1', body: 'x' }],
      ['send', { room, body: 'x' }],
      ['send', { room, cid: 'c1' }],
      ['typing', { room }],
      ['read', { room }],
      ['history', {}],
      ['presence', {}],
      ['auth', {}],
    ]);
    // None of them was acted on.
    expect(await c.send(room, 'c1', 'first')).toMatchObject({ seq: 1 });
  });

  it('answers fields of the wrong type or out of range', async () => {
    const room = `bad-types-${kind}`;
    const c = await joined(kind, `bt-${kind}`, room);
    await expectCode(c, 'bad_request', [
      ['join', { room: 5 }],
      ['join', { room, since: '3' }],
      ['join', { room, since: -1 }],
      ['join', { room, since: 1.5 }],
      ['join', { room, epoch: 5 }],
      ['join', { room, epoch: 'e'.repeat(65) }],
      ['send', { room, cid: 7, body: 'x' }],
      ['send', { room, cid: 'c1', body: 5 }],
      ['send', { room, cid: 'c1', body: null }],
      ['typing', { room, on: 'yes' }],
      ['typing', { room, on: 1 }],
      ['read', { room, seq: '1' }],
      ['read', { room, seq: -1 }],
      ['read', { room, seq: 1.5 }],
      ['auth', { token: 5 }],
    ]);
  });

  it('answers bad room names, and accepts a 128-char name of every allowed character', async () => {
    const c = await joined(kind, `br-${kind}`, `bad-rooms-${kind}`);
    await expectCode(
      c,
      'bad_request',
      ['', 'has space', 'a/b', 'caf\u00e9', 'semi;colon', 'r'.repeat(129)].map((room) => ['join', { room }] as [string, Record<string, unknown>]),
    );
    const longest = `Az09_.:@-${kind}`.padEnd(128, 'x');
    expect(await c.request('join', { room: longest })).toMatchObject({ ok: true, data: { room: longest } });
  });

  it('answers a cid that is too long or has other characters, and accepts 64 chars', async () => {
    const room = `bad-cid-${kind}`;
    const c = await joined(kind, `bc-${kind}`, room);
    await expectCode(c, 'bad_request', [
      ['send', { room, cid: 'c'.repeat(65), body: 'x' }],
      ['send', { room, cid: '', body: 'x' }],
      ['send', { room, cid: 'has space', body: 'x' }],
    ]);
    expect(await c.send(room, `Az09_.:@-`.padEnd(64, 'c'), 'x')).toMatchObject({ seq: 1 });
  });

  it('answers a meta that is not a JSON object', async () => {
    const room = `bad-meta-${kind}`;
    const c = await joined(kind, `bx-${kind}`, room);
    await expectCode(
      c,
      'bad_request',
      [[], 'text', 5, null, true].map((meta, i) => ['send', { room, cid: `c${i}`, body: 'x', meta }] as [string, Record<string, unknown>]),
    );
    expect(await c.request('send', { room, cid: 'ok', body: 'x', meta: {} })).toMatchObject({ ok: true, data: { seq: 1 } });
  });
});

describe.each(KINDS)('%s: too_large', (kind) => {
  it('measures body in UTF-8 bytes against MAX_BODY_BYTES', async () => {
    const room = `large-body-${kind}`;
    const c = await joined(kind, `lb-${kind}`, room);
    // 2049 two-byte chars: far fewer chars than MAX_BODY_BYTES, but more bytes.
    await expectCode(c, 'too_large', [
      ['send', { room, cid: 'c1', body: '\u00e9'.repeat(MAX_BODY_BYTES / 2 + 1) }],
      ['send', { room, cid: 'c2', body: '\u{1F600}'.repeat(MAX_BODY_BYTES / 4 + 1) }],
    ]);
    expect(await c.send(room, 'c3', '\u00e9'.repeat(MAX_BODY_BYTES / 2))).toMatchObject({ seq: 1 });
  });

  it('measures meta serialized against 1024 bytes', async () => {
    const room = `large-meta-${kind}`;
    const c = await joined(kind, `lm-${kind}`, room);
    // {"k":"..."} is 8 bytes plus the string.
    await expectCode(c, 'too_large', [
      ['send', { room, cid: 'c1', body: 'x', meta: { k: 'x'.repeat(MAX_META_BYTES - 7) } }],
      ['send', { room, cid: 'c2', body: 'x', meta: { k: '\u00e9'.repeat((MAX_META_BYTES - 8) / 2 + 1) } }],
    ]);
    const exact = await c.request('send', { room, cid: 'c3', body: 'x', meta: { k: 'x'.repeat(MAX_META_BYTES - 8) } });
    expect(exact).toMatchObject({ ok: true, data: { seq: 1 } });
  });
});

describe.each(KINDS)('%s: frames without rid', (kind) => {
  it('gets an error push instead of a reply, and nothing for a frame that succeeds', async () => {
    const room = `no-rid-${kind}`;
    const c = await joined(kind, `nr-${kind}`, room);
    c.fire('nope');
    expect(await c.waitFor('error')).toEqual({ t: 'error', code: 'bad_request', message: expect.any(String) });
    c.fire('send', { room, cid: 'c1', body: '\u00e9'.repeat(MAX_BODY_BYTES) });
    expect(await c.waitFor('error')).toMatchObject({ code: 'too_large' });
    c.fire('send', { room: `no-rid-elsewhere-${kind}`, cid: 'c1', body: 'x' });
    expect(await c.waitFor('error')).toMatchObject({ code: 'not_joined' });
    c.fire('ping');
    c.fire('send', { room, cid: 'fired', body: 'no reply wanted' });
    expect(await c.waitFor('msg')).toMatchObject({ cid: 'fired', seq: 1 });
    await c.barrier();
    expect(c.received('error')).toHaveLength(3);
    expect(c.received('reply')).toEqual([]);
  });
});

describe('ws: frames that are not requests', () => {
  it('answers text that is not a JSON object, and a frame with an invalid rid, with an error push', async () => {
    const c = await joined('ws', 'nf-ws', 'not-frames-ws');
    const texts = ['not json', '[1,2]', '"text"', '42', 'null', '{"t":5}', '{"t":"ping","rid":1.5}', `{"t":"ping","rid":"${'r'.repeat(65)}"}`, '{"t":"ping","rid":{}}'];
    for (const text of texts) {
      c.sendText(text);
      expect(await c.waitFor('error'), text).toMatchObject({ code: 'bad_request' });
    }
    // A valid rid makes it a reply, even without a t.
    c.sendText('{"rid":"no-type"}');
    expect(await c.waitFor('reply')).toMatchObject({ rid: 'no-type', ok: false, error: { code: 'bad_request' } });
    await c.barrier();
    expect(c.received('error')).toHaveLength(texts.length);
    expect(c.received('reply')).toHaveLength(1);
  });
});

describe('sio: payloads that are not objects', () => {
  it('answers a request whose payload is not an object with bad_request', async () => {
    const c = await joined('sio', 'nf-sio', 'not-frames-sio');
    const socket = c.socket!;
    for (const payload of ['text', [1, 2], 42, null]) {
      const reply = await new Promise<unknown>((resolve) => socket.emit('join', payload, resolve));
      expect(reply, JSON.stringify(payload)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    await c.barrier();
  });
});
