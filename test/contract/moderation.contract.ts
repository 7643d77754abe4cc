// The Moderation contract (src/rooms/state/moderation.ts) and the checks RoomState runs with it
// (appendChecked, probe), against every adapter pair. Time is the sends' `ts` and the `now`
// given to reads: no test waits for a restriction to end.
import { afterEach, describe, expect, it } from 'vitest';
import type { Moderation, SendChecks } from '../../src/rooms/state/moderation.js';
import type { AppendInput, RoomState } from '../../src/rooms/state/room-state.js';

/** A started RoomState and the Moderation it enforces, on storage no other test sees. */
export type ModerationFactory = () => Promise<{ state: RoomState; moderation: Moderation }>;

const TTL_S = 60;
const T0 = 1_700_000_000_000;
const PLAIN: SendChecks = { slowExempt: false };
const EXEMPT: SendChecks = { slowExempt: true };

function input(from: string, cid: string, ts: number, room = 'r'): AppendInput {
  return { room, from, cid, body: `body of ${cid}`, ts };
}

export function moderationContract(name: string, factory: ModerationFactory): void {
  describe(`${name}: Moderation contract`, () => {
    const made: RoomState[] = [];
    const make = async () => {
      const pair = await factory();
      made.push(pair.state);
      return pair;
    };
    afterEach(async () => {
      await Promise.all(made.splice(0).map((s) => s.close()));
    });

    it('appendChecked in a room without restrictions sequences like append', async () => {
      const { state } = await make();
      const a = await state.appendChecked(input('alice', 'c1', T0), TTL_S, PLAIN);
      const b = await state.appendChecked(input('bob', 'c2', T0), TTL_S, PLAIN);
      expect('refused' in a || 'refused' in b).toBe(false);
      if ('refused' in a || 'refused' in b) return;
      expect([a.message.seq, b.message.seq, a.dup]).toEqual([1, 2, false]);
      expect(a.message).toStrictEqual({ room: 'r', seq: 1, cid: 'c1', from: 'alice', body: 'body of c1', ts: T0 });
      expect(await state.appendChecked(input('alice', 'c1', T0), TTL_S, PLAIN)).toMatchObject({ dup: true, message: { seq: 1 } });
    });

    it('a ban refuses before a mute, each with its end, and changes nothing', async () => {
      const { state, moderation } = await make();
      await moderation.restrict('r', 'mute', 'alice', T0 + 5_000);
      expect(await state.appendChecked(input('alice', 'c1', T0), TTL_S, PLAIN)).toEqual({ refused: { code: 'muted', until: T0 + 5_000 } });
      await moderation.restrict('r', 'ban', 'alice', null);
      expect(await state.appendChecked(input('alice', 'c1', T0), TTL_S, EXEMPT)).toEqual({ refused: { code: 'banned', until: null } });
      expect((await state.head('r')).seq).toBe(0);
      // Another user, and the same user in another room, are not restricted.
      expect(await state.appendChecked(input('bob', 'c1', T0), TTL_S, PLAIN)).toMatchObject({ dup: false, message: { seq: 1 } });
      expect(await state.appendChecked(input('alice', 'c1', T0, 'other'), TTL_S, PLAIN)).toMatchObject({ dup: false });
      expect(await moderation.banned('r', 'alice', T0)).toBeNull();
      expect(await moderation.banned('r', 'bob', T0)).toBeUndefined();
    });

    it('a restriction with an end stops counting at its end; lifting one ends it at once', async () => {
      const { state, moderation } = await make();
      await moderation.restrict('r', 'mute', 'alice', T0 + 1_000);
      await moderation.restrict('r', 'ban', 'bob', T0 + 1_000);
      expect(await state.appendChecked(input('alice', 'c1', T0 + 999), TTL_S, PLAIN)).toEqual({ refused: { code: 'muted', until: T0 + 1_000 } });
      expect(await state.appendChecked(input('alice', 'c1', T0 + 1_000), TTL_S, PLAIN)).toMatchObject({ dup: false, message: { seq: 1 } });
      expect(await moderation.banned('r', 'bob', T0 + 999)).toBe(T0 + 1_000);
      expect(await moderation.banned('r', 'bob', T0 + 1_000)).toBeUndefined();
      await moderation.restrict('r', 'mute', 'carol', null);
      expect(await moderation.lift('r', 'mute', 'carol', T0)).toBe(true);
      expect(await moderation.lift('r', 'mute', 'carol', T0)).toBe(false);
      expect(await moderation.lift('r', 'ban', 'nobody', T0)).toBe(false);
      expect(await state.appendChecked(input('carol', 'c1', T0), TTL_S, PLAIN)).toMatchObject({ dup: false, message: { seq: 2 } });
    });

    it('a resend of an accepted cid is answered as a dup whatever the restrictions', async () => {
      const { state, moderation } = await make();
      const first = await state.appendChecked(input('alice', 'c1', T0), TTL_S, PLAIN);
      await moderation.restrict('r', 'ban', 'alice', null);
      await moderation.setSlowMode('r', 60);
      expect(await state.appendChecked(input('alice', 'c1', T0 + 1), TTL_S, PLAIN)).toEqual({ ...first, dup: true });
      expect(await state.probe(input('alice', 'c1', T0 + 1), PLAIN)).toEqual({ kind: 'dup' });
      expect(await state.appendChecked(input('alice', 'c2', T0 + 1), TTL_S, PLAIN)).toEqual({ refused: { code: 'banned', until: null } });
    });

    it('slow mode: one send per user per N seconds, counted from the last accepted one; moderators are exempt', async () => {
      const { state, moderation } = await make();
      await moderation.setSlowMode('r', 10);
      expect(await state.appendChecked(input('alice', 'c1', T0), TTL_S, PLAIN)).toMatchObject({ dup: false });
      expect(await state.appendChecked(input('alice', 'c2', T0 + 4_000), TTL_S, PLAIN)).toEqual({ refused: { code: 'slow_mode', retryAfterMs: 6_000 } });
      // The refused send did not restart the wait.
      expect(await state.appendChecked(input('alice', 'c2', T0 + 10_000), TTL_S, PLAIN)).toMatchObject({ dup: false, message: { seq: 2 } });
      expect(await state.appendChecked(input('bob', 'c1', T0 + 10_000), TTL_S, PLAIN)).toMatchObject({ dup: false, message: { seq: 3 } });
      expect(await state.appendChecked(input('mod', 'm1', T0 + 10_000), TTL_S, EXEMPT)).toMatchObject({ dup: false });
      expect(await state.appendChecked(input('mod', 'm2', T0 + 10_001), TTL_S, EXEMPT)).toMatchObject({ dup: false });
      // Plain append (the admin API) knows no restrictions.
      expect(await state.append(input('alice', 'c3', T0 + 10_001), TTL_S)).toMatchObject({ dup: false });
      await moderation.setSlowMode('r', 0);
      expect(await state.appendChecked(input('alice', 'c4', T0 + 10_002), TTL_S, PLAIN)).toMatchObject({ dup: false });
    });

    it('probe tells what appendChecked would answer and changes nothing', async () => {
      const { state, moderation } = await make();
      await moderation.setSlowMode('r', 10);
      expect(await state.probe(input('alice', 'c1', T0), PLAIN)).toEqual({ kind: 'new' });
      expect(await state.probe(input('alice', 'c1', T0), PLAIN)).toEqual({ kind: 'new' });
      expect((await state.head('r')).seq).toBe(0);
      expect(await state.appendChecked(input('alice', 'c1', T0), TTL_S, PLAIN)).toMatchObject({ dup: false });
      expect(await state.probe(input('alice', 'c2', T0 + 1_000), PLAIN)).toEqual({ kind: 'refused', refusal: { code: 'slow_mode', retryAfterMs: 9_000 } });
      await moderation.restrict('r', 'mute', 'bob', T0 + 50);
      expect(await state.probe(input('bob', 'b1', T0), PLAIN)).toEqual({ kind: 'refused', refusal: { code: 'muted', until: T0 + 50 } });
    });

    it('read lists the restrictions in force, users in name order', async () => {
      const { moderation } = await make();
      expect(await moderation.read('r', T0)).toEqual({ room: 'r', slowModeS: 0, muted: [], banned: [] });
      await moderation.setSlowMode('r', 30);
      await moderation.restrict('r', 'mute', 'zed', null);
      await moderation.restrict('r', 'mute', 'amy', T0 + 100);
      await moderation.restrict('r', 'mute', 'old', T0 - 1);
      await moderation.restrict('r', 'ban', 'a:b', T0 + 200);
      expect(await moderation.read('r', T0)).toEqual({
        room: 'r',
        slowModeS: 30,
        muted: [{ user: 'amy', until: T0 + 100 }, { user: 'zed', until: null }],
        banned: [{ user: 'a:b', until: T0 + 200 }],
      });
      // A new restriction replaces the earlier one of its kind.
      await moderation.restrict('r', 'mute', 'zed', T0 + 7);
      expect((await moderation.read('r', T0)).muted).toContainEqual({ user: 'zed', until: T0 + 7 });
      expect(await moderation.read('other', T0)).toEqual({ room: 'other', slowModeS: 0, muted: [], banned: [] });
    });
  });
}
