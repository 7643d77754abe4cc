import { describe, expect, it } from 'vitest';
import { KINDS, type Frame, type TestClient } from '../helpers/clients.js';
import { nodeFor, trackedClients } from '../helpers/fixtures.js';

/**
 * docs/protocol.md, "Presence, occupancy and typing in big rooms", through a real node: above
 * PRESENCE_BATCH_ABOVE users a room's presence reaches `delta` members as `presence_delta`, one
 * per PRESENCE_BATCH_MS, while `each` members (protocol v1) keep one `presence` per change;
 * `occupancy`; typing throttled to one `on` push per TYPING_THROTTLE_MS.
 */

const ABOVE = 3;
const BATCH_MS = 300;
const THROTTLE_MS = 800;

const connect = trackedClients();

/** Applies presence pushes of `room` in arrival order: the roster a client keeps. */
function roster(frames: Frame[], room: string): Map<string, string> {
  const state = new Map<string, string>();
  for (const f of frames) {
    if (f['room'] !== room) continue;
    if (f.t === 'presence') state.set(f['user'] as string, f['status'] as string);
    if (f.t === 'presence_delta') {
      for (const u of f['online'] as string[]) state.set(u, 'online');
      for (const u of f['offline'] as string[]) state.set(u, 'offline');
    }
  }
  return state;
}

/** Waits, delta by delta, until the roster `c` built from its pushes satisfies `done`. */
async function untilRoster(c: TestClient, room: string, done: (state: Map<string, string>) => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const state = () => roster([...c.received('presence'), ...c.received('presence_delta')], room);
  while (!done(state())) {
    // Takes the next delta not looked at yet (at once if one came meanwhile).
    await c.waitFor('presence_delta', () => true, Math.max(1, deadline - Date.now()));
  }
}

const online = (state: Map<string, string>): string[] => [...state].filter(([, s]) => s === 'online').map(([u]) => u).sort();

describe.each(KINDS)('%s: presence in big rooms', (kind) => {
  // No grace period: a closed member goes offline at once, so changes follow the test's steps.
  const node = nodeFor({
    PRESENCE_BATCH_ABOVE: String(ABOVE),
    PRESENCE_BATCH_MS: String(BATCH_MS),
    PRESENCE_GRACE_S: '0',
    TYPING_THROTTLE_MS: String(THROTTLE_MS),
    RATE_PER_S: '1000',
    RATE_BURST: '1000',
  });

  async function member(room: string, user: string, presence?: 'each' | 'delta'): Promise<TestClient> {
    const c = await connect(node(), kind, user);
    await c.join(room, presence ? { presence } : {});
    return c;
  }

  it('a small room gets one presence push per change, to delta members too', async () => {
    const room = `small-${kind}`;
    const watcher = await member(room, `sm-w-${kind}`, 'delta');
    const a = await member(room, `sm-a-${kind}`);
    await watcher.waitFor('presence', (f) => f['user'] === `sm-a-${kind}`);
    a.close();
    expect(await watcher.waitFor('presence', (f) => f['status'] === 'offline')).toEqual({ t: 'presence', room, user: `sm-a-${kind}`, status: 'offline' });
    await watcher.barrier();
    expect(watcher.received('presence_delta')).toEqual([]);
  });

  it('above the threshold: delta members get batched deltas, each members every change, and both end at the roster', async () => {
    const room = `big-${kind}`;
    const delta = await member(room, `bg-d-${kind}`, 'delta');
    const each = await member(room, `bg-e-${kind}`, 'each');
    const legacy = await member(room, `bg-l-${kind}`);
    // The 4th user takes the room above 3: from here on, changes are batched for `delta`.
    const users: TestClient[] = [];
    for (let i = 0; i < 6; i++) users.push(await member(room, `bg-u${i}-${kind}`));
    users[0]?.close();
    users[1]?.close();
    // One who comes and goes at once: the deltas report the final state (offline).
    const flicker = await member(room, `bg-f-${kind}`);
    flicker.close();
    await flicker.waitClosed();
    const expected = [`bg-d-${kind}`, `bg-e-${kind}`, `bg-l-${kind}`, ...[2, 3, 4, 5].map((i) => `bg-u${i}-${kind}`)].sort();
    // `each` and v1 members see every departure as it happens: then the server's counts are final.
    for (const gone of [`bg-u0-${kind}`, `bg-u1-${kind}`, `bg-f-${kind}`]) {
      for (const c of [each, legacy]) await c.waitFor('presence', (f) => f['user'] === gone && f['status'] === 'offline');
    }
    const occupancy = await delta.request('occupancy', { room });
    expect(occupancy).toMatchObject({ ok: true, data: { room, users: expected.length, devices: expected.length } });
    // The roster the delta member builds reaches the server's (but for itself), through deltas.
    const others = expected.filter((u) => u !== `bg-d-${kind}`);
    await untilRoster(delta, room, (state) => online(state).join() === others.join() && state.get(`bg-f-${kind}`) === 'offline');
    const deltas = delta.received('presence_delta');
    expect(deltas.length).toBeGreaterThan(0);
    for (const d of deltas) expect(Object.keys(d).sort()).toEqual(['offline', 'online', 'room', 't']);
    // 11 changes after the crossing made in a few hundred ms: a handful of deltas, not one per change.
    expect(deltas.length).toBeLessThan(6);
    expect(roster(deltas, room).get(`bg-f-${kind}`)).toBe('offline');
    // Below the threshold the delta member got per-change pushes: only for the first members.
    expect(delta.received('presence').map((f) => f['user'])).toEqual([`bg-e-${kind}`, `bg-l-${kind}`]);
    // `each` and v1 members get every change as it happens, never a delta.
    for (const c of [each, legacy]) {
      expect(c.received('presence_delta')).toEqual([]);
      expect(c.received('presence', (f) => f['user'] === `bg-u0-${kind}`).map((f) => f['status'])).toEqual(['online', 'offline']);
      expect(c.received('presence', (f) => f['user'] === `bg-f-${kind}`).map((f) => f['status'])).toEqual(['online', 'offline']);
    }
    const page = await delta.request('presence', { room, limit: 500 });
    expect(page.data.members.map((m: { user: string }) => m.user).sort()).toEqual(expected);
  });

  it('a room falling back below the threshold goes back to per-change pushes', async () => {
    const room = `fall-${kind}`;
    const watcher = await member(room, `fl-w-${kind}`, 'delta');
    const others: TestClient[] = [];
    for (let i = 0; i < 4; i++) others.push(await member(room, `fl-u${i}-${kind}`));
    await untilRoster(watcher, room, (state) => state.get(`fl-u3-${kind}`) === 'online');
    for (const c of others.slice(0, 3)) c.close();
    // Once the delta with the last departure is out, no batch is open, and two users are left.
    await untilRoster(watcher, room, (state) => [0, 1, 2].every((i) => state.get(`fl-u${i}-${kind}`) === 'offline'));
    const late = await member(room, `fl-late-${kind}`);
    expect(await watcher.waitFor('presence', (f) => f['user'] === `fl-late-${kind}`)).toMatchObject({ status: 'online' });
    late.close();
    await watcher.waitFor('presence', (f) => f['user'] === `fl-late-${kind}` && f['status'] === 'offline');
    expect(online(roster([...watcher.received('presence'), ...watcher.received('presence_delta')], room))).toEqual([`fl-u3-${kind}`]);
    expect(watcher.received('presence', (f) => f['user'] !== `fl-late-${kind}`).map((f) => f['user'])).toEqual([`fl-u0-${kind}`, `fl-u1-${kind}`]);
  });

  it('occupancy needs a joined room and an allowed one, like presence', async () => {
    const c = await connect(node(), kind, `oc-a-${kind}`, [`oc-${kind}`]);
    expect(await c.request('occupancy', { room: `oc-${kind}` })).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    expect(await c.request('occupancy', { room: 'elsewhere' })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await c.request('occupancy', { room: 'bad room' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    await c.join(`oc-${kind}`);
    const b = await connect(node(), kind, `oc-a-${kind}`, [`oc-${kind}`]);
    await b.join(`oc-${kind}`);
    expect((await c.request('occupancy', { room: `oc-${kind}` })).data).toEqual({ room: `oc-${kind}`, users: 1, devices: 2 });
    const admin = await node().admin('GET', `/admin/rooms/oc-${kind}/occupancy`);
    expect(admin).toEqual({ status: 200, body: { room: `oc-${kind}`, users: 1, devices: 2 } });
    expect((await node().admin('GET', '/admin/rooms/bad%20room/occupancy')).status).toBe(400);
    expect((await node().admin('GET', '/admin/rooms/x/occupancy', undefined, 'wrong-token-0123456789')).status).toBe(401);
  });

  it('join refuses an unknown presence mode', async () => {
    const c = await connect(node(), kind, `pm-${kind}`);
    expect(await c.request('join', { room: `pm-${kind}`, presence: 'sometimes' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });

  it('typing: one on push per throttle window, an off at once, requests always answered ok', async () => {
    const room = `typing-${kind}`;
    const a = await member(room, `ty-a-${kind}`);
    const b = await member(room, `ty-b-${kind}`);
    const startedAt = Date.now();
    for (let i = 0; i < 10; i++) expect(await a.request('typing', { room, on: true })).toMatchObject({ ok: true, data: {} });
    await a.request('typing', { room, on: true });
    await b.waitFor('typing', (f) => f['on'] === true);
    const burstMs = Date.now() - startedAt;
    expect(await a.request('typing', { room, on: false })).toMatchObject({ ok: true });
    await b.waitFor('typing', (f) => f['on'] === false);
    // Still inside the window: an `on` waits for its end, then goes out once.
    await a.request('typing', { room, on: true });
    const second = await b.waitFor('typing', (f) => f['on'] === true, THROTTLE_MS + 5000);
    expect(second).toEqual({ t: 'typing', room, user: `ty-a-${kind}`, on: true });
    if (burstMs < THROTTLE_MS) expect(Date.now() - startedAt).toBeGreaterThanOrEqual(THROTTLE_MS - 20);
    await b.barrier();
    await a.barrier();
    expect(b.received('typing').map((f) => f['on'])).toEqual([true, false, true]);
    expect(a.received('typing')).toEqual([]);
  });
});
