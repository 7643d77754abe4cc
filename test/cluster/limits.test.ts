import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Kind } from '../helpers/clients.js';
import type { ProcessNode } from '../helpers/cluster.js';
import { uniquePrefix } from '../helpers/services.js';
import { busServices, spawnNodes, until, type BusServices } from './support.js';

// docs/protocol.md, "Limits and backpressure" and "Moderation": the limits hold across gateway
// processes sharing one Redis (under a prefix of this file's). TRUST_PROXY=1 makes each client a
// client address of its own (X-Forwarded-For), so only the tests of the per-address limits share one.

const NODE_TTL_S = 2;

describe('limits across two gateway processes', () => {
  let services: BusServices | undefined;
  let a: ProcessNode;
  let b: ProcessNode;
  const clients: TestClient[] = [];
  let n = 0;
  const address = () => `192.0.2.${++n}`;
  const prefix = uniquePrefix('limits');

  beforeAll(async () => {
    services = await busServices('redis');
    const env = {
      ...services.env,
      KEY_PREFIX: prefix,
      NODE_TTL_S: String(NODE_TTL_S),
      PRESENCE_GRACE_S: '0',
      TRUST_PROXY: '1',
      MSG_RATE_PER_USER: '4',
      MSG_RATE_WINDOW_S: '60',
      MAX_CONNS_PER_ADDRESS: '2',
      HANDSHAKES_PER_ADDRESS: '6',
      HANDSHAKE_WINDOW_S: '60',
    };
    [a, b] = (await spawnNodes(['limits-a', 'limits-b'], env)) as [ProcessNode, ProcessNode];
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a, b].map((x) => x?.close()));
    await services?.close();
  });

  const connect = async (kind: Kind, node: ProcessNode, user: string, opts: { mod?: string[]; from?: string } = {}): Promise<TestClient> => {
    const c = await TestClient.connect(kind, node, await node.token(user, opts.mod ? { mod: opts.mod } : {}), { forwardedFor: opts.from ?? address() });
    clients.push(c);
    return c;
  };

  it("MSG_RATE_PER_USER counts the user's sends on every node", async () => {
    const onA = await connect('ws', a, 'rate-user');
    const onB = await connect('sio', b, 'rate-user');
    await onA.join('rate-1');
    await onB.join('rate-2');
    await onA.send('rate-1', 'a1', 'x');
    await onB.send('rate-2', 'b1', 'x');
    await onA.send('rate-1', 'a2', 'x');
    await onB.send('rate-2', 'b2', 'x');
    expect((await onA.request('send', { room: 'rate-1', cid: 'a3', body: 'x' })).error?.code).toBe('user_rate_limited');
    expect((await onB.request('send', { room: 'rate-2', cid: 'b3', body: 'x' })).error?.code).toBe('user_rate_limited');
    // A resend of an accepted cid, on the other node, still gets its seq.
    expect((await onB.request('send', { room: 'rate-1', cid: 'a1', body: 'x' })).error?.code).toBe('not_joined');
    await onB.join('rate-1');
    expect((await onB.request('send', { room: 'rate-1', cid: 'a1', body: 'x' })).data).toMatchObject({ seq: 1, dup: true });
  });

  it('slow mode set through one node holds on the other; its moderators are exempt there', async () => {
    const room = 'cl-slow';
    expect((await a.admin('PUT', `/admin/rooms/${room}/slowmode`, { seconds: 60 })).status).toBe(200);
    const ann = await connect('ws', b, 'slow-ann');
    const mod = await connect('sio', b, 'slow-mod', { mod: [room] });
    await ann.join(room);
    await mod.join(room);
    await ann.send(room, 's1', 'x');
    expect(await ann.request('send', { room, cid: 's2', body: 'x' })).toMatchObject({ ok: false, error: { code: 'slow_mode' } });
    await mod.send(room, 'm1', 'x');
    await mod.send(room, 'm2', 'x');
    expect((await b.admin('GET', `/admin/rooms/${room}/moderation`)).body).toMatchObject({ slowmode: 60 });
  });

  it("a moderator's ban on one node removes the member from the room on the other and stops their rejoin there", async () => {
    const room = 'cl-ban';
    const eve = await connect('ws', a, 'cl-eve');
    const bob = await connect('sio', a, 'cl-bob');
    await eve.join(room);
    await bob.join(room);
    const mod = await connect('ws', b, 'cl-mod', { mod: ['cl-*'] });
    expect(await mod.request('moderate', { room, action: 'ban', user: 'cl-eve' })).toMatchObject({ ok: true, data: { action: 'ban', until: null } });
    expect(await eve.waitFor('moderated', () => true, 10_000)).toMatchObject({ room, action: 'ban' });
    expect(await bob.waitFor('presence', (f) => f['user'] === 'cl-eve' && f['status'] === 'offline', 10_000)).toMatchObject({ room });
    await bob.send(room, 'after', 'x');
    await eve.barrier();
    expect(eve.received('msg', (f) => f['room'] === room)).toEqual([]);
    expect((await eve.request('join', { room })).error?.code).toBe('banned');
    const elsewhere = await connect('sio', b, 'cl-eve');
    expect((await elsewhere.request('join', { room })).error?.code).toBe('banned');
    expect((await a.admin('DELETE', `/admin/rooms/${room}/bans/cl-eve`)).body).toMatchObject({ lifted: true });
    await elsewhere.join(room);
  });

  it('a mute through one node holds on the other', async () => {
    const room = 'cl-mute';
    const tim = await connect('sio', b, 'cl-tim');
    await tim.join(room);
    expect((await a.admin('PUT', `/admin/rooms/${room}/mutes/cl-tim`, { duration: 120 })).status).toBe(200);
    expect(await tim.waitFor('moderated', () => true, 10_000)).toMatchObject({ action: 'mute', until: expect.any(Number) });
    expect((await tim.request('send', { room, cid: 't1', body: 'x' })).error?.code).toBe('muted');
  });

  it('MAX_CONNS_PER_ADDRESS counts the connections of an address on every node', async () => {
    const from = address();
    await connect('ws', a, 'conn-1', { from });
    const second = await connect('sio', b, 'conn-2', { from });
    const token = await a.token('conn-3');
    expect(await TestClient.refusal('ws', a, token, { forwardedFor: from })).toEqual({ status: 429, code: 'too_many_address_connections' });
    expect(await TestClient.refusal('sio', b, token, { forwardedFor: from })).toEqual({ message: 'too_many_address_connections' });
    second.close();
    await second.waitClosed();
    let third: TestClient | undefined;
    await until(async () => {
      const r = await TestClient.refusal('ws', a, token, { forwardedFor: from });
      if (r instanceof TestClient) third = r;
      return third !== undefined;
    }, 'a slot of the address to be free again', 5_000);
    clients.push(third!);
  });

  it('HANDSHAKES_PER_ADDRESS counts the handshakes of an address on every node', async () => {
    const from = address();
    const token = await a.token('hs');
    for (const [i, node] of [a, b, a, b, a, b].entries()) {
      const c = await TestClient.connect(i % 2 ? 'sio' : 'ws', node, token, { forwardedFor: from });
      c.close();
      await c.waitClosed();
    }
    expect(await TestClient.refusal('ws', a, token, { forwardedFor: from })).toEqual({ status: 429, code: 'too_many_handshakes' });
    const polled = await fetch(`${b.httpUrl}/socket.io/?EIO=4&transport=polling`, { headers: { 'x-forwarded-for': from } });
    expect(polled.status).toBe(429);
  });

  it("a node killed with SIGKILL: its connections' address slots are freed by the other within NODE_TTL_S", async () => {
    const from = address();
    await connect('ws', b, 'dead-1', { from });
    await connect('sio', b, 'dead-2', { from });
    const token = await a.token('dead-3');
    expect(await TestClient.refusal('ws', a, token, { forwardedFor: from })).toEqual({ status: 429, code: 'too_many_address_connections' });
    b.kill('SIGKILL');
    await b.exited;
    const killedAt = Date.now();
    // Every attempt is a handshake of the address: wait for the reaper (in Redis), then try once.
    const redis = new Redis(services!.env['REDIS_URL']!, { maxRetriesPerRequest: 1 });
    try {
      await until(async () => !(await redis.smembers(`{${prefix}}:caowners`)).some((o) => o.startsWith('limits-b~')), "node b's slots to be freed", (NODE_TTL_S + 5) * 1000);
    } finally {
      redis.disconnect();
    }
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_000);
    clients.push(await TestClient.connect('ws', a, token, { forwardedFor: from }));
  });
});
