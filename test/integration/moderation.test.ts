import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, TestClient, type Kind } from '../helpers/clients.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { expectError } from './http-support.js';

/** docs/protocol.md, "Moderation", and docs/admin-api.md: slow mode, mutes and bans, by the admin API and by moderators. */

let node: TestNode;
beforeAll(async () => {
  // No presence grace: a banned member's `offline` reaches the others at once.
  node = await startNode({ PRESENCE_GRACE_S: '0' });
});
afterAll(async () => {
  await node.close();
});

async function member(kind: Kind, user: string, room: string, opts: { mod?: string[] } = {}): Promise<TestClient> {
  const c = await TestClient.connect(kind, node, await node.token(user, opts));
  await c.join(room);
  return c;
}

const put = (path: string, body: unknown = {}) => node.admin('PUT', path, body);
const del = (path: string) => node.admin('DELETE', path);

describe.each(KINDS)('%s: slow mode', (kind) => {
  it('one send per user per N seconds, with the wait in retryAfterMs; moderators are exempt; a resend is still a dup', async () => {
    const room = `slow-${kind}`;
    expect(await put(`/admin/rooms/${room}/slowmode`, { seconds: 30 })).toEqual({ status: 200, body: { room, slowmode: 30 } });
    const ann = await member(kind, `slow-ann-${kind}`, room);
    const mod = await member(kind, `slow-mod-${kind}`, room, { mod: ['slow-*'] });
    const first = await ann.send(room, 'a1', 'one');
    const refused = await ann.request('send', { room, cid: 'a2', body: 'two' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'slow_mode' } });
    expect(refused.error).toHaveProperty('retryAfterMs');
    const wait = refused.error?.['retryAfterMs'] as number;
    expect(wait).toBeGreaterThan(25_000);
    expect(wait).toBeLessThanOrEqual(30_000);
    expect((await ann.request('send', { room, cid: 'a1', body: 'one' })).data).toEqual({ ...first, dup: true });
    for (let i = 0; i < 3; i++) await mod.send(room, `m${i}`, 'moderator speaking');
    // Another user has a wait of their own.
    const bob = await member(kind, `slow-bob-${kind}`, room);
    await bob.send(room, 'b1', 'hi');
    expect(await del(`/admin/rooms/${room}/slowmode`)).toEqual({ status: 200, body: { room, slowmode: 0 } });
    await ann.send(room, 'a2', 'two');
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/parley_sends_refused_total\{code="slow_mode"\} [1-9]/);
    for (const c of [ann, mod, bob]) c.close();
  });
});

describe.each(KINDS)('%s: mute', (kind) => {
  it('a muted user is told (moderated push), cannot send until unmuted, and still receives', async () => {
    const room = `mute-${kind}`;
    const user = `mute-ann-${kind}`;
    const ann = await member(kind, user, room);
    const bob = await member(kind, `mute-bob-${kind}`, room);
    const answer = await put(`/admin/rooms/${room}/mutes/${user}`, { duration: 600 });
    expect(answer).toMatchObject({ status: 200, body: { room, user, action: 'mute', until: expect.any(Number) } });
    const until = (answer.body as { until: number }).until;
    expect(until).toBeGreaterThan(Date.now() + 590_000);
    expect(await ann.waitFor('moderated')).toEqual({ t: 'moderated', room, action: 'mute', until });
    expect(await ann.request('send', { room, cid: 'x', body: 'x' })).toMatchObject({ ok: false, error: { code: 'muted', until } });
    await bob.send(room, 'b1', 'still hear me?');
    expect(await ann.waitFor('msg', (f) => f['room'] === room)).toMatchObject({ body: 'still hear me?' });
    expect((await node.admin('GET', `/admin/rooms/${room}/moderation`)).body).toEqual({ room, slowmode: 0, muted: [{ user, until }], banned: [] });
    expect(await del(`/admin/rooms/${room}/mutes/${encodeURIComponent(user)}`)).toEqual({ status: 200, body: { room, user, action: 'unmute', until: null, lifted: true } });
    expect(await ann.waitFor('moderated')).toEqual({ t: 'moderated', room, action: 'unmute', until: null });
    expect(await ann.send(room, 'x', 'x')).toMatchObject({ dup: false });
    expect((await del(`/admin/rooms/${room}/mutes/${user}`)).body).toMatchObject({ lifted: false });
    ann.close();
    bob.close();
  });
});

describe.each(KINDS)('%s: ban', (kind) => {
  it('removes the user from the room at once and refuses their join until unbanned', async () => {
    const room = `ban-${kind}`;
    const user = `ban-eve-${kind}`;
    const eve = await member(kind, user, room);
    const bob = await member(kind, `ban-bob-${kind}`, room);
    expect(await put(`/admin/rooms/${room}/bans/${user}`)).toMatchObject({ status: 200, body: { room, user, action: 'ban', until: null } });
    expect(await eve.waitFor('moderated')).toEqual({ t: 'moderated', room, action: 'ban', until: null });
    expect(await bob.waitFor('presence', (f) => f['user'] === user && f['status'] === 'offline', 10_000)).toMatchObject({ room });
    await bob.send(room, 'b1', 'after the ban');
    await eve.barrier();
    expect(eve.received('msg', (f) => f['body'] === 'after the ban')).toEqual([]);
    expect(await eve.request('send', { room, cid: 'e1', body: 'x' })).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    expect(await eve.request('join', { room })).toMatchObject({ ok: false, error: { code: 'banned', until: null } });
    // The connection itself stays, with its other rooms.
    await eve.join(`${room}-other`);
    expect(await del(`/admin/rooms/${room}/bans/${user}`)).toMatchObject({ status: 200, body: { lifted: true } });
    expect(await eve.waitFor('moderated', (f) => f['action'] === 'unban')).toMatchObject({ room });
    await eve.join(room);
    expect(await eve.send(room, 'e2', 'back')).toMatchObject({ dup: false });
    eve.close();
    bob.close();
  });
});

describe.each(KINDS)('%s: moderators (the mod claim) and the moderate request', (kind) => {
  it('a moderator of the room mutes and bans, with or without joining; others get forbidden', async () => {
    const room = `modreq-${kind}`;
    const target = `modreq-tim-${kind}`;
    const tim = await member(kind, target, room);
    const mod = await TestClient.connect(kind, node, await node.token(`modreq-mo-${kind}`, { rooms: [], mod: ['modreq-*'] }));
    const muted = await mod.request('moderate', { room, action: 'mute', user: target, duration: 60 });
    expect(muted).toMatchObject({ ok: true, data: { room, user: target, action: 'mute', until: expect.any(Number) } });
    expect(await tim.waitFor('moderated')).toMatchObject({ action: 'mute' });
    expect((await tim.request('send', { room, cid: 't1', body: 'x' })).error?.code).toBe('muted');
    expect(await mod.request('moderate', { room, action: 'unmute', user: target })).toMatchObject({ ok: true, data: { action: 'unmute', until: null } });
    expect(await mod.request('moderate', { room, action: 'ban', user: target })).toMatchObject({ ok: true, data: { action: 'ban', until: null } });
    expect(await tim.waitFor('moderated', (f) => f['action'] === 'ban')).toMatchObject({ room });
    expect((await tim.request('join', { room })).error?.code).toBe('banned');
    expect(await mod.request('moderate', { room, action: 'unban', user: target })).toMatchObject({ ok: true });
    // Not a moderator, or a moderator of other rooms only: forbidden; nothing changes.
    const plain = await member(kind, `modreq-pat-${kind}`, room);
    const elsewhere = await TestClient.connect(kind, node, await node.token(`modreq-el-${kind}`, { mod: ['lobby'] }));
    for (const c of [plain, elsewhere]) expect(await c.request('moderate', { room, action: 'ban', user: target })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect((await node.admin('GET', `/admin/rooms/${room}/moderation`)).body).toMatchObject({ muted: [], banned: [] });
    expect(await mod.request('moderate', { room, action: 'kick', user: target })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    for (const c of [tim, mod, plain, elsewhere]) c.close();
  });
});

describe('admin API validation', () => {
  it('refuses bad seconds, durations, rooms, users and bodies with 400; an unknown method is 404', async () => {
    for (const body of [{}, { seconds: 0 }, { seconds: 86401 }, { seconds: '10' }, { seconds: 1.5 }]) expectError(await put('/admin/rooms/r/slowmode', body), 400, 'bad_request');
    for (const body of [{ duration: 0 }, { duration: 365 * 86400 + 1 }, { duration: 'long' }, [1]]) expectError(await put('/admin/rooms/r/mutes/u', body), 400, 'bad_request');
    expectError(await put('/admin/rooms/r/bans/u', '{"duration":'), 400, 'bad_request');
    expectError(await put('/admin/rooms/bad%20room/bans/u'), 400, 'bad_request');
    expectError(await put(`/admin/rooms/r/bans/${'u'.repeat(129)}`), 400, 'bad_request');
    expectError(await node.admin('GET', '/admin/rooms/r/moderation', undefined, 'wrong-token-0123456789'), 401, 'unauthorized');
    expectError(await node.admin('POST', '/admin/rooms/r/slowmode', { seconds: 5 }), 404, 'not_found');
    expect((await node.admin('GET', '/admin/rooms/r/moderation')).body).toEqual({ room: 'r', slowmode: 0, muted: [], banned: [] });
  });
});

describe('MSG_RATE_PER_USER', () => {
  let limited: TestNode;
  beforeAll(async () => {
    limited = await startNode({ MSG_RATE_PER_USER: '3', MSG_RATE_WINDOW_S: '60' });
  });
  afterAll(async () => {
    await limited.close();
  });

  it.each(KINDS)('%s: counts a user\'s sends over every room and connection; over it, user_rate_limited with the wait', async (kind) => {
    const token = await limited.token(`rate-${kind}`);
    const a = await TestClient.connect(kind, limited, token);
    const b = await TestClient.connect(kind, limited, token);
    await a.join('r1');
    await b.join('r2');
    const first = await a.send('r1', `c1-${kind}`, 'x');
    await b.send('r2', `c2-${kind}`, 'x');
    await a.send('r1', `c3-${kind}`, 'x');
    const refused = await b.request('send', { room: 'r2', cid: `c4-${kind}`, body: 'x' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'user_rate_limited', retryAfterMs: expect.any(Number) } });
    expect(refused.error?.['retryAfterMs']).toBeLessThanOrEqual(60_000);
    // A resend of an accepted cid is answered with its seq all the same.
    expect((await a.request('send', { room: 'r1', cid: `c1-${kind}`, body: 'x' })).data).toEqual({ ...first, dup: true });
    // Another user is not limited.
    const other = await TestClient.connect(kind, limited, await limited.token(`rate-other-${kind}`));
    await other.join('r1');
    await other.send('r1', `o1-${kind}`, 'x');
    for (const c of [a, b, other]) c.close();
  });
});
