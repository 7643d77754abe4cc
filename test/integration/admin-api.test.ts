import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { expectError, http, until } from './http-support.js';

let node: TestNode;
beforeAll(async () => {
  // No grace period: a room empties as soon as its last member leaves.
  node = await startNode({ PRESENCE_GRACE_S: '0' });
});
afterAll(async () => {
  await node.close();
});

const connect = async (kind: 'ws' | 'sio', user: string) => TestClient.connect(kind, node, await node.token(user));

describe('GET /admin/stats', () => {
  // First in the file, on a fresh node: the counts are exact.
  it('counts connections of both transports and the rooms with someone online', async () => {
    const before = await node.admin('GET', '/admin/stats');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({ node: node.config.nodeId, nodes: 1, connections: 0, rooms: 0, uptime_s: expect.any(Number) });

    const a = await connect('ws', 'stats-alice');
    const b1 = await connect('sio', 'stats-bob');
    const b2 = await connect('ws', 'stats-bob');
    const idle = await connect('sio', 'stats-idle');
    await a.join('stats-1');
    await b1.join('stats-1');
    await b2.join('stats-2');
    const during = await node.admin('GET', '/admin/stats');
    expect(during.body).toEqual({ node: node.config.nodeId, nodes: 1, connections: 4, rooms: 2, uptime_s: expect.any(Number) });
    expect(Number.isInteger((during.body as any).uptime_s)).toBe(true);
    expect((during.body as any).uptime_s).toBeGreaterThanOrEqual(0);

    b2.close();
    await b2.waitClosed();
    const afterLeave = await until('stats-2 to empty', async () => {
      const s = (await node.admin('GET', '/admin/stats')).body as any;
      return s.connections === 3 && s.rooms === 1 ? s : undefined;
    });
    expect(afterLeave).toMatchObject({ connections: 3, rooms: 1 });

    for (const c of [a, b1, idle]) c.close();
    await until('every connection to be gone', async () => {
      const s = (await node.admin('GET', '/admin/stats')).body as any;
      return s.connections === 0 && s.rooms === 0 ? s : undefined;
    });
  });
});

describe('GET /admin/rooms', () => {
  it('pages through {room, occupancy, head} with cursor and limit', async () => {
    const rooms = ['list-a', 'list-b', 'list-c', 'list-d', 'list-e'];
    const ws = await connect('ws', 'lister-1');
    const sio = await connect('sio', 'lister-2');
    const sameUser = await connect('sio', 'lister-1');
    for (const [i, room] of rooms.entries()) {
      await ws.join(room);
      if (i % 2 === 0) await sio.join(room);
      if (i === 1) await sameUser.join(room);
      for (let n = 0; n < i; n++) await ws.send(room, `m${n}`, 'x');
    }
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const answer = await node.admin('GET', `/admin/rooms?limit=2${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(answer.status).toBe(200);
      const body = answer.body as { rooms: any[]; next: string | null };
      expect(body.rooms.length).toBeLessThanOrEqual(2);
      if (body.next !== null) expect(body.rooms.length).toBe(2);
      seen.push(...body.rooms);
      cursor = body.next;
      expect(++pages).toBeLessThan(50);
    } while (cursor !== null);
    expect(pages).toBeGreaterThanOrEqual(3);
    const ours = seen.filter((r) => rooms.includes(r.room)).sort((x, y) => x.room.localeCompare(y.room));
    expect(ours).toEqual([
      { room: 'list-a', occupancy: 2, head: 0 },
      { room: 'list-b', occupancy: 1, head: 1 },
      { room: 'list-c', occupancy: 2, head: 2 },
      { room: 'list-d', occupancy: 1, head: 3 },
      { room: 'list-e', occupancy: 2, head: 4 },
    ]);
    expect(new Set(seen.map((r) => r.room)).size).toBe(seen.length);

    const all = (await node.admin('GET', '/admin/rooms')).body as { rooms: any[]; next: string | null };
    expect(all.next).toBeNull();
    expect(all.rooms).toEqual(seen);
    for (const c of [ws, sio, sameUser]) c.close();
  });

  it.each(['limit=0', 'limit=501', 'limit=-1', 'limit=abc', 'limit=1.5', 'cursor=not-a-cursor'])('refuses %s with 400 bad_request', async (query) => {
    expectError(await node.admin('GET', `/admin/rooms?${query}`), 400, 'bad_request');
  });

  it('accepts limit 1 and 500 (the bounds)', async () => {
    expect((await node.admin('GET', '/admin/rooms?limit=1')).status).toBe(200);
    expect((await node.admin('GET', '/admin/rooms?limit=500')).status).toBe(200);
  });
});

describe('GET /admin/rooms/:room/presence', () => {
  it('lists members with devices (both transports) and since, paged', async () => {
    const room = 'adm-presence';
    const t0 = Date.now();
    const a1 = await connect('ws', 'pres-a');
    const a2 = await connect('sio', 'pres-a');
    const b = await connect('sio', 'pres-b');
    const c = await connect('ws', 'pres-c');
    for (const x of [a1, a2, b, c]) await x.join(room);
    const full = await node.admin('GET', `/admin/rooms/${room}/presence`);
    expect(full.status).toBe(200);
    const body = full.body as any;
    expect(body).toMatchObject({ room, occupancy: 3, next: null });
    const byUser = Object.fromEntries(body.members.map((m: any) => [m.user, m]));
    expect(Object.keys(byUser).sort()).toEqual(['pres-a', 'pres-b', 'pres-c']);
    expect(byUser['pres-a'].devices).toBe(2);
    expect(byUser['pres-b'].devices).toBe(1);
    for (const m of body.members) {
      expect(m).toEqual({ user: expect.any(String), devices: expect.any(Number), since: expect.any(String) });
      expect(new Date(m.since).toISOString()).toBe(m.since);
      expect(Date.parse(m.since)).toBeGreaterThanOrEqual(t0 - 1000);
      expect(Date.parse(m.since)).toBeLessThanOrEqual(Date.now() + 1000);
    }
    // The admin view equals what a member sees with the `presence` request.
    const own = await b.request('presence', { room });
    expect(own.data).toEqual(body);

    const p1 = (await node.admin('GET', `/admin/rooms/${room}/presence?limit=2`)).body as any;
    expect(p1.members).toHaveLength(2);
    expect(p1.occupancy).toBe(3);
    expect(typeof p1.next).toBe('string');
    const p2 = (await node.admin('GET', `/admin/rooms/${room}/presence?limit=2&cursor=${encodeURIComponent(p1.next)}`)).body as any;
    expect(p2.members).toHaveLength(1);
    expect(p2.next).toBeNull();
    expect([...p1.members, ...p2.members].map((m: any) => m.user).sort()).toEqual(['pres-a', 'pres-b', 'pres-c']);
    for (const x of [a1, a2, b, c]) x.close();
  });

  it('an empty room has occupancy 0 and no members', async () => {
    const answer = await node.admin('GET', '/admin/rooms/adm-nobody-here/presence');
    expect(answer).toEqual({ status: 200, body: { room: 'adm-nobody-here', occupancy: 0, members: [], next: null } });
  });

  it.each(['limit=0', 'limit=501', 'limit=x', 'cursor=%%%'])('refuses %s with 400 bad_request', async (query) => {
    expectError(await node.admin('GET', `/admin/rooms/adm-presence/presence?${query}`), 400, 'bad_request');
  });
});

describe('GET /admin/users/:user/presence', () => {
  it('an online user: devices over both transports and the rooms they are in', async () => {
    const w = await connect('ws', 'upres-u');
    const s = await connect('sio', 'upres-u');
    await w.join('upres-r1');
    await s.join('upres-r2');
    await s.join('upres-r1');
    const answer = await node.admin('GET', '/admin/users/upres-u/presence');
    expect(answer.status).toBe(200);
    const body = answer.body as any;
    expect({ ...body, rooms: [...body.rooms].sort() }).toEqual({ user: 'upres-u', online: true, devices: 2, rooms: ['upres-r1', 'upres-r2'] });
    w.close();
    s.close();
  });

  it('a connected user in no room is online with rooms []', async () => {
    const c = await connect('sio', 'upres-idle');
    expect((await node.admin('GET', '/admin/users/upres-idle/presence')).body).toEqual({ user: 'upres-idle', online: true, devices: 1, rooms: [] });
    c.close();
  });

  it('an unknown user is online:false, devices:0, rooms:[]', async () => {
    expect(await node.admin('GET', '/admin/users/never-seen-user/presence')).toEqual({
      status: 200,
      body: { user: 'never-seen-user', online: false, devices: 0, rooms: [] },
    });
  });

  it('decodes the user from the path (any user id of 1-128 chars)', async () => {
    const user = 'eve smith+ü@example.com';
    const c = await connect('ws', user);
    await c.join('upres-enc');
    const answer = await node.admin('GET', `/admin/users/${encodeURIComponent(user)}/presence`);
    expect(answer.body).toEqual({ user, online: true, devices: 1, rooms: ['upres-enc'] });
    c.close();
  });

  it('refuses a user id over 128 chars with 400', async () => {
    expectError(await node.admin('GET', `/admin/users/${'u'.repeat(129)}/presence`), 400, 'bad_request');
  });
});

describe('routing errors', () => {
  it.each([
    ['GET', '/admin/nope'],
    ['GET', '/admin/rooms/r/nope'],
    ['GET', '/admin/users/u'],
    ['POST', '/admin/stats'],
    ['POST', '/admin/rooms'],
    ['GET', '/admin/users/u/disconnect'],
    ['PUT', '/admin/stats'],
    ['DELETE', '/admin/rooms/r/messages'],
  ])('%s %s is 404 not_found', async (method, path) => {
    const answer = await http(node, method, path, { headers: { authorization: `Bearer ${node.config.adminToken ?? ''}` } });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it.each([
    ['a space', 'bad%20room'],
    ['a slash', 'a%2Fb'],
    ['a non-ASCII char', 'caf%C3%A9'],
    ['129 chars', 'r'.repeat(129)],
    ['a malformed percent-encoding', '%ZZ'],
  ])('refuses a room name with %s in the path with 400 on every room route', async (_label, raw) => {
    for (const [method, path] of [
      ['GET', `/admin/rooms/${raw}/presence`],
      ['GET', `/admin/rooms/${raw}/messages`],
      ['POST', `/admin/rooms/${raw}/messages`],
    ] as const) {
      const answer = await node.admin(method, path, method === 'POST' ? { cid: 'c1', body: 'x' } : undefined);
      expectError(answer, 400, 'bad_request');
    }
    // The node still serves after a malformed path.
    expect((await http(node, 'GET', '/healthz')).status).toBe(200);
  });

  it('accepts a room name using every allowed character class', async () => {
    const room = 'Az09_.:@-';
    expect((await node.admin('GET', `/admin/rooms/${room}/presence`)).body).toMatchObject({ room, occupancy: 0 });
  });
});
