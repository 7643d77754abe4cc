// The Redis adapters against the shared contracts, plus what only Redis can do: lose a room,
// and run many gateway nodes whose presence entries outlive a crashed one until reaped.
import { Redis, type Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresence, type PresenceClient } from '../../src/rooms/state/redis-presence.js';
import { RedisRoomState, type RoomStateClient } from '../../src/rooms/state/redis-room-state.js';
import type { AppendResult } from '../../src/rooms/state/room-state.js';
import type { DurablePosition } from '../../src/domain/durable-position.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { defineScript } from '../../src/rooms/state/redis-scripts.js';
import { requireRedis, uniquePrefix } from '../helpers/services.js';
import { RedisModeration } from '../../src/rooms/state/redis-moderation.js';
import { moderationContract } from './moderation.contract.js';
import { presenceContract } from './presence.contract.js';
import { deleteKeys, tagCheckedClient } from './redis-support.js';
import { roomChangesContract } from './room-changes.contract.js';
import { roomStateContract, until } from './room-state.contract.js';

let raw: Redis;
let client: Redis;
const prefixes: string[] = [];
const presences: RedisPresence[] = [];

beforeAll(async () => {
  await requireRedis();
  raw = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  client = tagCheckedClient(raw);
});
afterEach(async () => {
  await Promise.all(presences.splice(0).map((p) => p.close()));
  for (const prefix of prefixes.splice(0)) await deleteKeys(raw, `{${prefix}*`);
});
afterAll(async () => {
  await raw.quit();
});

function newPrefix(name: string): string {
  const prefix = uniquePrefix(name);
  prefixes.push(prefix);
  return prefix;
}

function presenceOn(prefix: string, nodeId: string, nodeTtlS: number): RedisPresence {
  const presence = new RedisPresence(client, { prefix, nodeId, nodeTtlS });
  presences.push(presence);
  return presence;
}

// Both ioredis clients fit the adapters' narrow interfaces.
const _fits: [RoomStateClient, PresenceClient, RoomStateClient, PresenceClient] = [
  null as unknown as Redis,
  null as unknown as Redis,
  null as unknown as Cluster,
  null as unknown as Cluster,
];

roomStateContract('redis', async ({ recentMax }) => {
  const state = new RedisRoomState(client, { prefix: newPrefix('state'), recentMax });
  await state.start();
  return state;
});

roomChangesContract('redis', async ({ recentMax }) => {
  const state = new RedisRoomState(client, { prefix: newPrefix('changes'), recentMax });
  await state.start();
  return state;
});

moderationContract('redis', async () => {
  const prefix = newPrefix('moderation');
  const state = new RedisRoomState(client, { prefix, recentMax: 100 });
  await state.start();
  return { state, moderation: new RedisModeration(client, prefix) };
});

presenceContract('redis', async () => {
  const presence = new RedisPresence(client, { prefix: newPrefix('presence'), nodeId: 'node-a', nodeTtlS: 30 });
  await presence.start();
  return presence;
});

describe('redis: the test client itself', () => {
  it('rejects a script whose keys span two hash tags', async () => {
    const call = defineScript(client, 'parleyTestTwoTags', 2, "return redis.call('EXISTS', KEYS[1], KEYS[2])");
    await expect(call('{a}:x', '{b}:x')).rejects.toThrow(/spans hash tags a, b/);
    await expect(call('{a}:x', '{a}:y')).resolves.toBe(0);
  });
});

describe('redis: RoomState when Redis loses a room', () => {
  const input = (room: string, cid: string) => ({ room, from: 'alice', cid, body: cid, ts: 1 });

  it('a room whose keys are all gone starts a new epoch at seq 1', async () => {
    const prefix = newPrefix('lost');
    const state = new RedisRoomState(client, { prefix, recentMax: 10 });
    for (const cid of ['c1', 'c2', 'c3']) {
      const r = await state.append(input('r', cid), 60);
      await state.commit('r', r.epoch, [r.message]);
    }
    await state.setRead('r', 'alice', 3);
    const before = await state.head('r');
    expect(before.head).toBe(3);
    expect(await deleteKeys(raw, `{${prefix}:r}*`)).toBeGreaterThanOrEqual(3);
    const after = await state.head('r');
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.head).toBe(0);
    const next = await state.append(input('r', 'c1'), 60);
    await state.commit('r', next.epoch, [next.message]);
    expect({ dup: next.dup, seq: next.message.seq, epoch: next.epoch }).toEqual({ dup: false, seq: 1, epoch: after.epoch });
    expect(await state.getRead('r', 'alice')).toBe(0);
    expect((await state.range('r', 1, 10)).map((m) => m.seq)).toEqual([1]);
  });

  it('losing only the counter drops the old epoch: buffer, read pointers and dedupe entries', async () => {
    const prefix = newPrefix('evicted');
    const state = new RedisRoomState(client, { prefix, recentMax: 10 });
    const first = await state.append(input('r', 'c1'), 60);
    await state.append(input('r', 'c2'), 60);
    await state.setRead('r', 'alice', 2);
    await raw.del(`{${prefix}:r}:meta`);
    expect(await state.getRead('r', 'alice')).toBe(0);
    const again = await state.append(input('r', 'c1'), 60);
    await state.commit('r', again.epoch, [again.message]);
    expect(again.epoch).not.toBe(first.epoch);
    expect({ dup: again.dup, seq: again.message.seq }).toEqual({ dup: false, seq: 1 });
    expect((await state.range('r', 1, 10)).map((m) => m.cid)).toEqual(['c1']);
    expect((await state.append(input('r', 'c1'), 60)).dup).toBe(true);
  });
});

describe('redis: RoomState with a durable copy', () => {
  const input = (room: string, cid: string, ts = Date.now()) => ({ room, from: 'alice', cid, body: `body ${cid}`, ts });

  /** A durable copy that holds exactly what it is given: the messages this test made durable. */
  function durableCopy() {
    const held: ChatMessage[] = [];
    let epoch: string | undefined;
    const source: DurablePosition = {
      lastPosition: () => Promise.resolve(held.length === 0 ? undefined : { epoch, seq: Math.max(...held.map((m) => m.seq)), messages: [...held] }),
    };
    return {
      source,
      keep(r: AppendResult) {
        epoch = r.epoch;
        held.push(r.message);
      },
      keepOther(m: ChatMessage) {
        held.push(m);
      },
    };
  }

  async function sendDurably(state: RedisRoomState, copy: ReturnType<typeof durableCopy>, cid: string): Promise<AppendResult> {
    const r = await state.append(input('r', cid), 60);
    copy.keep(r);
    await state.commit('r', r.epoch, [r.message]);
    return r;
  }

  it('a lost room comes back in its epoch with its counter, recent messages and dedupe entries', async () => {
    const prefix = newPrefix('restore');
    const copy = durableCopy();
    const state = new RedisRoomState(client, { prefix, recentMax: 10, durable: copy.source, dedupeTtlS: 60 });
    const sent = [];
    for (const cid of ['c1', 'c2', 'c3']) sent.push(await sendDurably(state, copy, cid));
    expect(await deleteKeys(raw, `{${prefix}:r}*`)).toBeGreaterThanOrEqual(3);
    expect(await state.head('r')).toEqual({ epoch: sent[0]?.epoch, head: 3, seq: 3 });
    expect(await state.range('r', 1, 3)).toStrictEqual(sent.map((r) => r.message));
    // An acknowledged cid stays a duplicate across the loss; a new one takes the next seq.
    const resent = await state.append(input('r', 'c2'), 60);
    expect({ dup: resent.dup, message: resent.message }).toStrictEqual({ dup: true, message: sent[1]?.message });
    expect((await state.append(input('r', 'c4'), 60)).message.seq).toBe(4);
  });

  it('an older copy (Redis restarted from a snapshot) is brought up to the durable copy before the next seq', async () => {
    const prefix = newPrefix('older');
    const copy = durableCopy();
    const state = new RedisRoomState(client, { prefix, recentMax: 10, durable: copy.source, dedupeTtlS: 60 });
    for (const cid of ['c1', 'c2']) await sendDurably(state, copy, cid);
    const meta = `{${prefix}:r}:meta`;
    const snapshot = await raw.dumpBuffer(meta);
    const recent = await raw.dumpBuffer(`{${prefix}:r}:recent`);
    const later = [await sendDurably(state, copy, 'c3'), await sendDurably(state, copy, 'c4')];
    // The snapshot comes back, as a restart would load it: the counter at 2, c3 and c4 unknown.
    await raw.del(meta, `{${prefix}:r}:recent`, `{${prefix}:r}:d:5:alice:c3`, `{${prefix}:r}:d:5:alice:c4`);
    await raw.restore(meta, 0, snapshot);
    await raw.restore(`{${prefix}:r}:recent`, 0, recent);
    // Same server, so the run id did not change: a restart is what tells; make it look like one.
    await raw.hset(meta, 'run', 'an-earlier-run');
    const next = await state.append(input('r', 'c5'), 60);
    expect({ dup: next.dup, seq: next.message.seq, epoch: next.epoch }).toEqual({ dup: false, seq: 5, epoch: later[0]?.epoch });
    const again = await state.append(input('r', 'c3'), 60);
    expect({ dup: again.dup, message: again.message }).toStrictEqual({ dup: true, message: later[0]?.message });
    expect((await state.range('r', 1, 4)).map((m) => m.cid)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('a message an older copy holds as pending, below the durable head but not durable, is dropped as a hole', async () => {
    const prefix = newPrefix('stale');
    const copy = durableCopy();
    const state = new RedisRoomState(client, { prefix, recentMax: 10, durable: copy.source, dedupeTtlS: 60 });
    await sendDurably(state, copy, 'c1');
    // Seq 2 is sequenced and never made durable (its gateway died); 3 and 4 are, and reached members.
    const lost = await state.append(input('r', 'c2'), 60);
    expect(lost.message.seq).toBe(2);
    await sendDurably(state, copy, 'c3');
    await sendDurably(state, copy, 'c4');
    expect((await state.head('r')).head).toBe(1);
    await raw.hset(`{${prefix}:r}:meta`, 'run', 'an-earlier-run');
    // After the restore the hole does not hold readers back, and the lost cid is not a duplicate.
    expect(await state.head('r')).toEqual({ epoch: lost.epoch, head: 4, seq: 4 });
    expect((await state.range('r', 1, 4)).map((m) => m.cid)).toEqual(['c1', 'c3', 'c4']);
    // Its gateway coming back to commit it finds it gone: nobody may deliver it.
    expect(await state.commit('r', lost.epoch, [lost.message, (await state.range('r', 3, 3))[0]!])).toEqual(['gone', 'earlier']);
    const resent = await state.append(input('r', 'c2'), 60);
    expect({ dup: resent.dup, seq: resent.message.seq }).toEqual({ dup: false, seq: 5 });
  });

  it('a seq handed out twice: once invalidated, the durable message wins and the other cid is sequenced anew', async () => {
    const prefix = newPrefix('twice');
    const copy = durableCopy();
    const state = new RedisRoomState(client, { prefix, recentMax: 10, durable: copy.source, dedupeTtlS: 60 });
    await sendDurably(state, copy, 'c1');
    const ours = await state.append(input('r', 'c2'), 60);
    // Another node's message already holds seq 2 in the durable copy (its append raced a restore).
    const theirs = { room: 'r', seq: 2, cid: 'x2', from: 'bob', body: 'theirs', ts: Date.now() };
    copy.keepOther(theirs);
    await state.invalidate('r');
    expect(await state.head('r')).toEqual({ epoch: ours.epoch, head: 2, seq: 2 });
    expect(await state.range('r', 1, 2)).toStrictEqual([(await state.range('r', 1, 1))[0], theirs]);
    expect(await state.commit('r', ours.epoch, [ours.message])).toEqual(['gone']);
    const resent = await state.append(input('r', 'c2'), 60);
    expect({ dup: resent.dup, seq: resent.message.seq }).toEqual({ dup: false, seq: 3 });
  });

  it('a dedupe entry whose seq now names another message is a miss', async () => {
    const prefix = newPrefix('stale_dedupe');
    const state = new RedisRoomState(client, { prefix, recentMax: 10 });
    const ours = await state.append(input('r', 'c1'), 60);
    // Seq 1 went to another message (the durable copy's) while our dedupe entry stayed.
    const theirs = JSON.stringify({ room: 'r', seq: 1, cid: 'x1', from: 'bob', body: 'theirs', ts: 1 });
    await raw.zremrangebyscore(`{${prefix}:r}:pend`, 1, 1);
    await raw.zremrangebyscore(`{${prefix}:r}:recent`, 1, 1);
    await raw.zadd(`{${prefix}:r}:recent`, 1, theirs);
    const again = await state.append(input('r', 'c1'), 60);
    expect({ dup: again.dup, seq: again.message.seq, epoch: again.epoch }).toEqual({ dup: false, seq: 2, epoch: ours.epoch });
    // While the seq still names it (pending or in the buffer), it stays a duplicate.
    expect((await state.append(input('r', 'c1'), 60)).dup).toBe(true);
  });

  it('a verified room is not restored again, and a room the durable copy does not know keeps what Redis holds', async () => {
    const prefix = newPrefix('verified');
    let asked = 0;
    const state = new RedisRoomState(client, { prefix, recentMax: 10, durable: { lastPosition: () => (asked++, Promise.resolve(undefined)) } });
    const first = await state.append(input('r', 'c1'), 60);
    await state.commit('r', first.epoch, [first.message]);
    expect(asked).toBe(1);
    await state.head('r');
    await state.append(input('r', 'c2'), 60);
    expect(asked).toBe(1);
    await raw.hset(`{${prefix}:r}:meta`, 'run', 'an-earlier-run');
    expect(await state.head('r')).toEqual({ epoch: first.epoch, head: 1, seq: 2 });
    expect(asked).toBe(2);
  });
});

describe('redis: Presence across gateway nodes', () => {
  it('counts devices, the cap and stats across nodes', async () => {
    const prefix = newPrefix('nodes');
    const a = presenceOn(prefix, 'node-a', 30);
    const b = presenceOn(prefix, 'node-b', 30);
    await Promise.all([a.start(), b.start()]);
    expect(await a.registerConnection('alice', 'a1', 2)).toBe(true);
    expect(await b.registerConnection('alice', 'a2', 2)).toBe(true);
    expect(await b.registerConnection('alice', 'a3', 2)).toBe(false);
    expect(await a.join('r', 'alice', 'a1', 1)).toEqual({ first: true });
    expect(await b.join('r', 'alice', 'a2', 2)).toEqual({ first: false });
    expect((await b.members('r', undefined, 10)).items).toEqual([{ user: 'alice', devices: 2, since: new Date(1).toISOString() }]);
    expect(await a.stats()).toEqual({ connections: 2, rooms: 1, nodes: 2 });
    expect(await b.counts('r')).toEqual({ users: 1, devices: 2 });
    expect(await b.leave('r', 'alice', 'a2', 3)).toEqual({ last: false });
    expect(await a.counts('r')).toEqual({ users: 1, devices: 1 });
    expect(await a.leave('r', 'alice', 'a1', 4)).toEqual({ last: true });
  });

  it("close() removes the node's entries and its users leave the roster", async () => {
    const prefix = newPrefix('close');
    const a = presenceOn(prefix, 'node-a', 30);
    const b = presenceOn(prefix, 'node-b', 30);
    await Promise.all([a.start(), b.start()]);
    const reaped: string[] = [];
    b.onReaped((room, user) => reaped.push(`${room}/${user}`));
    await b.registerConnection('bob', 'b1', 5);
    await b.join('r', 'bob', 'b1', 1);
    await a.registerConnection('carol', 'c1', 5);
    await a.join('r', 'carol', 'c1', 1);
    await b.close();
    expect(reaped).toEqual(['r/bob']);
    expect(await a.occupancy('r')).toBe(1);
    expect(await a.user('bob')).toEqual({ user: 'bob', online: false, devices: 0, rooms: [] });
    expect(await a.stats()).toEqual({ connections: 1, rooms: 1, nodes: 1 });
  });

  it("a node that stops heartbeating is reaped by another node, which reports who went offline", async () => {
    const prefix = newPrefix('reap');
    const a = presenceOn(prefix, 'node-a', 3);
    const b = presenceOn(prefix, 'node-b', 2);
    await Promise.all([a.start(), b.start()]);
    const reaped: string[] = [];
    a.onReaped((room, user) => reaped.push(`${room}/${user}`));
    await b.registerConnection('dave', 'd1', 5);
    await b.join('r', 'dave', 'd1', 1);
    // In grace on node-b when it dies: its timer died with it, the reaper must expire erin.
    await b.join('r', 'erin', 'e1', 1);
    await b.leave('r', 'erin', 'e1', 2);
    // frank's leave ran its script on node-b, which crashed before recording the grace entry.
    await b.join('r', 'frank', 'f1', 1);
    await raw.hdel(`{${prefix}:r:r}:c`, JSON.stringify(['frank', 'f1']));
    await raw.hincrby(`{${prefix}:r:r}:dev`, 'frank', -1);
    // carol keeps a connection on node-a: still online in the room after the reap.
    await b.join('r', 'carol', 'c-b', 1);
    await a.join('r', 'carol', 'c-a', 1);
    expect(await a.occupancy('r')).toBe(4);
    expect(await a.counts('r')).toEqual({ users: 4, devices: 3 });
    expect((await a.stats()).nodes).toBe(2);
    b.stopHeartbeat();
    await until(() => Promise.resolve(reaped.length >= 3), 15_000, 'node-a to reap node-b');
    expect(reaped.sort()).toEqual(['r/dave', 'r/erin', 'r/frank']);
    expect(await a.occupancy('r')).toBe(1);
    expect(await a.counts('r')).toEqual({ users: 1, devices: 1 });
    expect((await a.members('r', undefined, 10)).items).toEqual([{ user: 'carol', devices: 1, since: new Date(1).toISOString() }]);
    expect(await a.user('dave')).toEqual({ user: 'dave', online: false, devices: 0, rooms: [] });
    expect(await a.stats()).toEqual({ connections: 0, rooms: 1, nodes: 1 });
  });
});
