/**
 * The SDK in big rooms against a real node: `presence_delta` pushes become a `presenceDelta`
 * event and per-user `presence` events, `presence: 'each'` keeps per-change pushes, `occupancy()`.
 */
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../packages/client/src/index.js';
import type { ClientOptions, ParleyClient, PresenceDeltaEvent, PresenceEvent } from '../../packages/client/src/index.js';
import { startNode, type TestNode } from '../helpers/node.js';
import { closeAll, next, sdk, within } from './sdk-support.js';

const ABOVE = 2;

let node: TestNode;
beforeAll(async () => {
  node = await startNode({ PRESENCE_BATCH_ABOVE: String(ABOVE), PRESENCE_BATCH_MS: '200', PRESENCE_GRACE_S: '0' });
});
afterEach(closeAll);
afterAll(async () => {
  await node.close();
});

const client = (user: string, options: ClientOptions = {}): ParleyClient => sdk(node.wsUrl, { getToken: () => node.token(user) }, options);

/** Records a client's presence events in order. */
function recorder(c: ParleyClient) {
  const presence: PresenceEvent[] = [];
  const deltas: PresenceDeltaEvent[] = [];
  c.on('presence', (p) => presence.push(p));
  c.on('presenceDelta', (d) => deltas.push(d));
  const roster = (room: string) => {
    const state = new Map<string, string>();
    for (const p of presence) if (p.room === room) state.set(p.user, p.status);
    return [...state].filter(([, s]) => s === 'online').map(([u]) => u).sort();
  };
  return { presence, deltas, roster };
}

describe('SDK presence in big rooms', () => {
  it('turns deltas into a presenceDelta event and one presence event per user; occupancy() counts', async () => {
    const room = 'sdk-big';
    const watcher = client('sdk-big-w');
    const each = client('sdk-big-e', { presence: 'each' });
    const seen = recorder(watcher);
    const seenEach = recorder(each);
    await watcher.join(room);
    await each.join(room);
    const members = ['sdk-big-a', 'sdk-big-b', 'sdk-big-c'].map((u) => client(u));
    const delta = next(watcher, 'presenceDelta', (d) => d.room === room && d.online.includes('sdk-big-c'));
    await Promise.all(members.map((m) => m.join(room)));
    await delta;
    const gone = next(watcher, 'presenceDelta', (d) => d.offline.includes('sdk-big-a'));
    await members[0]?.close();
    await gone;
    expect(seen.roster(room)).toEqual(['sdk-big-b', 'sdk-big-c', 'sdk-big-e']);
    expect(seen.deltas.length).toBeGreaterThan(0);
    // Every user of a delta is also a presence event, online ones first.
    const fromDeltas = seen.deltas.flatMap((d) => [...d.online.map((user) => ({ room: d.room, user, status: 'online' })), ...d.offline.map((user) => ({ room: d.room, user, status: 'offline' }))]);
    expect(seen.presence.slice(seen.presence.length - fromDeltas.length)).toEqual(fromDeltas);
    // `each` gets every change on its own and no delta.
    await within(
      (async () => {
        while (!seenEach.presence.some((p) => p.user === 'sdk-big-a' && p.status === 'offline')) await next(each, 'presence');
      })(),
      'the each client to see sdk-big-a go',
    );
    expect(seenEach.deltas).toEqual([]);
    expect(seenEach.roster(room)).toEqual(['sdk-big-b', 'sdk-big-c']);
    expect(await watcher.occupancy(room)).toEqual({ room, users: 4, devices: 4 });
  });

  it('occupancy() of a room not joined rejects with not_joined', async () => {
    const c = client('sdk-occ');
    await expect(c.occupancy('sdk-occ-room')).rejects.toMatchObject({ code: 'not_joined' });
  });

  it('refuses an unknown presence option', () => {
    expect(() => connect(node.wsUrl, { getToken: () => node.token('sdk-opt') }, { WebSocket, presence: 'sometimes' as 'each' })).toThrow(RangeError);
  });
});
