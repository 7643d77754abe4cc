// The registry's room index (room -> this node's sessions), kept equal to each session's
// `joined` across join, leave, a failed join and close; and the slow count per room built on it.
import { describe, expect, it } from 'vitest';
import { RoomAcl } from '../../src/gateway/acl.js';
import type { Request } from '../../src/gateway/frames.js';
import { SessionRegistry } from '../../src/gateway/registry.js';
import { Session } from '../../src/gateway/session.js';
import type { ReplyResult } from '../../src/gateway/transport.js';
import type { RoomService } from '../../src/rooms/room-service.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeTransport, sessionDeps } from '../helpers/session-fakes.js';

/** A room service whose joins of rooms named `fail-*` fail, and whose other calls succeed. */
function rooms(): RoomService {
  const fake = {
    join: (_c: unknown, room: string) => (room.startsWith('fail-') ? Promise.reject(new Error(`join of ${room} failed`)) : Promise.resolve({ room })),
    leave: () => Promise.resolve(),
  };
  return fake as unknown as RoomService;
}

function setup() {
  const logger = createLogger('silent');
  const registry = new SessionRegistry();
  const deps = sessionDeps(rooms(), logger, {
    roomJoined: (s, room) => registry.roomJoined(s, room),
    roomLeft: (s, room) => registry.roomLeft(s, room),
  });
  let n = 0;
  const open = (user: string): Session => {
    const s = new Session(`c${++n}`, new FakeTransport(), { user, exp: 2_000_000_000, rooms: new RoomAcl(['*']) }, deps);
    registry.add(s);
    return s;
  };
  const request = (s: Session, req: Request): Promise<ReplyResult> =>
    new Promise((resolve) => s.handle({ ok: true, rid: 1, req }, resolve));
  const members = (room: string) => [...registry.inRoom(room)].map((s) => s.connId).sort();
  /** The kept counts (presence's reconciler reads them each heartbeat) equal a walk over the sessions. */
  const expectCounts = (): void => {
    let conns = 0;
    let joins = 0;
    for (const c of registry.all()) {
      conns++;
      joins += c.joined.size;
    }
    expect(registry.counts()).toEqual({ conns, joins });
  };
  return { registry, open, request, members, expectCounts };
}

describe('SessionRegistry by user', () => {
  it("lists a user's sessions as they open and close, whether one or several", () => {
    const { registry, open } = setup();
    const ids = (user: string) => registry.forUser(user).map((s) => s.connId).sort();
    expect(ids('ann')).toEqual([]);
    const a1 = open('ann');
    expect(ids('ann')).toEqual([a1.connId]);
    const a2 = open('ann');
    const a3 = open('ann');
    const b1 = open('ben');
    expect(ids('ann')).toEqual([a1.connId, a2.connId, a3.connId].sort());
    registry.add(a2);
    expect(ids('ann')).toEqual([a1.connId, a2.connId, a3.connId].sort());
    registry.remove(a1);
    expect(ids('ann')).toEqual([a2.connId, a3.connId].sort());
    registry.remove(a3);
    expect(ids('ann')).toEqual([a2.connId]);
    registry.remove(a3);
    expect(ids('ann')).toEqual([a2.connId]);
    registry.remove(a2);
    expect(ids('ann')).toEqual([]);
    expect(ids('ben')).toEqual([b1.connId]);
    const a4 = open('ann');
    expect(ids('ann')).toEqual([a4.connId]);
  });
});

describe('SessionRegistry room index', () => {
  it('lists a session in a room from its join until its leave', async () => {
    const { open, request, members, expectCounts } = setup();
    const a = open('alice');
    const b = open('bob');
    expect((await request(a, { t: 'join', room: 'r1' })).ok).toBe(true);
    expect((await request(b, { t: 'join', room: 'r1' })).ok).toBe(true);
    expect((await request(b, { t: 'join', room: 'r2' })).ok).toBe(true);
    expect(members('r1')).toEqual([a.connId, b.connId]);
    expect(members('r2')).toEqual([b.connId]);
    expect((await request(b, { t: 'leave', room: 'r1' })).ok).toBe(true);
    expect(members('r1')).toEqual([a.connId]);
    // Leaving a room not joined changes nothing.
    expect((await request(a, { t: 'leave', room: 'r2' })).ok).toBe(true);
    expect(members('r2')).toEqual([b.connId]);
    expectCounts();
  });

  it('lists a joining session at once, and forgets it when the join fails', async () => {
    const { registry, open, request, members, expectCounts } = setup();
    const a = open('alice');
    const pending = request(a, { t: 'join', room: 'fail-1' });
    // A join in flight counts (room resets and presence must see it).
    expect(members('fail-1')).toEqual([a.connId]);
    expectCounts();
    expect((await pending).ok).toBe(false);
    expect(members('fail-1')).toEqual([]);
    expectCounts();
    expect(registry.roomCount).toBe(0);
  });

  it('forgets a closed session in every room, even while its rooms are still being left', async () => {
    const { registry, open, request, members, expectCounts } = setup();
    const a = open('alice');
    const b = open('bob');
    for (const room of ['r1', 'r2', 'r3']) expect((await request(a, { t: 'join', room })).ok).toBe(true);
    expect((await request(b, { t: 'join', room: 'r1' })).ok).toBe(true);
    registry.remove(a);
    expect(members('r1')).toEqual([b.connId]);
    expect(members('r2')).toEqual([]);
    expect(registry.roomCount).toBe(1);
    // The session leaves its rooms after it was unregistered: nothing comes back.
    expectCounts();
    await a.dispose();
    expect(registry.roomCount).toBe(1);
    expect(members('r1')).toEqual([b.connId]);
    expectCounts();
  });

  it('a join finishing after its session was unregistered does not list it again', async () => {
    const { registry, open, request, members } = setup();
    const a = open('alice');
    registry.remove(a);
    expect((await request(a, { t: 'join', room: 'late' })).ok).toBe(true);
    expect(members('late')).toEqual([]);
  });

  it('counts the slow sessions of a room from whichever side is smaller', async () => {
    const { registry, open, request } = setup();
    const sessions = ['a', 'b', 'c', 'd'].map((u) => open(u));
    for (const s of sessions) expect((await request(s, { t: 'join', room: 'big' })).ok).toBe(true);
    expect((await request(sessions[0]!, { t: 'join', room: 'small' })).ok).toBe(true);
    expect(registry.slowIn('big')).toBe(0);
    for (const s of sessions.slice(0, 3)) {
      s.slow = true;
      registry.slow.add(s);
    }
    expect(registry.slowIn('big')).toBe(3);
    expect(registry.slowIn('small')).toBe(1);
    expect(registry.slowIn('none')).toBe(0);
    registry.remove(sessions[0]!);
    expect(registry.slowIn('big')).toBe(2);
    expect(registry.slowIn('small')).toBe(0);
  });
});
