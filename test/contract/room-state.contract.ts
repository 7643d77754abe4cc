// The RoomState contract (src/rooms/state/room-state.ts), run against every adapter.
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendInput, AppendResult, RoomState } from '../../src/rooms/state/room-state.js';

/** A started RoomState keeping `recentMax` messages per room, on storage no other test sees. */
export type RoomStateFactory = (opts: { recentMax: number }) => Promise<RoomState>;

const TTL_S = 60;

function input(room: string, from: string, cid: string, extra: Partial<AppendInput> = {}): AppendInput {
  return { room, from, cid, body: `body of ${cid}`, ts: 1_700_000_000_000, ...extra };
}

/** Appends and commits (the message is durable): what the room service does on every good send. */
async function committed(state: RoomState, input: AppendInput, ttlS: number): Promise<AppendResult> {
  const r = await state.append(input, ttlS);
  await state.commit(input.room, r.epoch, [r.message]);
  return r;
}

/** Polls `check` until it returns true; fails after `deadlineMs`. For state that changes with time, not events. */
export async function until(check: () => Promise<boolean>, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Inside a describe block: makes states of `factory`, each closed after its test. */
export function madeStates(factory: RoomStateFactory): (recentMax?: number) => Promise<RoomState> {
  const made: RoomState[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((s) => s.close()));
  });
  return async (recentMax = 100) => {
    const state = await factory({ recentMax });
    made.push(state);
    return state;
  };
}

export function roomStateContract(name: string, factory: RoomStateFactory): void {
  describe(`${name}: RoomState contract`, () => {
    const make = madeStates(factory);

    it('append assigns 1, 2, 3 and stores the message as given', async () => {
      const state = await make();
      const meta = { tags: ['x', 'y'], empty: [], nested: { pi: 3.141592653589793, big: 2 ** 52 + 1, none: null }, text: 'é "q" \\' };
      const r1 = await committed(state, input('r', 'alice', 'c1', { meta }), TTL_S);
      const r2 = await committed(state, input('r', 'bob', 'c2', { body: '{"seq":99}' }), TTL_S);
      const r3 = await committed(state, input('r', 'alice', 'c3'), TTL_S);
      expect([r1, r2, r3].map((r) => [r.message.seq, r.dup])).toEqual([[1, false], [2, false], [3, false]]);
      expect(r1.message).toStrictEqual({ room: 'r', seq: 1, cid: 'c1', from: 'alice', body: 'body of c1', meta, ts: 1_700_000_000_000 });
      expect(r2.message.body).toBe('{"seq":99}');
      expect('meta' in r3.message).toBe(false);
      expect(await state.range('r', 1, 3)).toStrictEqual([r1.message, r2.message, r3.message]);
      expect(await state.head('r')).toEqual({ epoch: r1.epoch, head: 3, seq: 3 });
    });

    it('a repeated (from, room, cid) returns the first message with dup:true and does not advance seq', async () => {
      const state = await make();
      const first = await committed(state, input('r', 'alice', 'c1', { body: 'first' }), TTL_S);
      const again = await committed(state, input('r', 'alice', 'c1', { body: 'second', ts: 5 }), TTL_S);
      expect(again).toEqual({ message: first.message, dup: true, epoch: first.epoch });
      expect((await state.head('r')).head).toBe(1);
      expect((await committed(state, input('r', 'alice', 'c2'), TTL_S)).message.seq).toBe(2);
      expect((await state.range('r', 1, 10)).map((m) => m.body)).toEqual(['first', 'body of c2']);
    });

    it('dedupe is per (from, room, cid)', async () => {
      const state = await make();
      await committed(state, input('r1', 'alice', 'c1'), TTL_S);
      const otherUser = await committed(state, input('r1', 'bob', 'c1'), TTL_S);
      const otherRoom = await committed(state, input('r2', 'alice', 'c1'), TTL_S);
      expect([otherUser.dup, otherUser.message.seq]).toEqual([false, 2]);
      expect([otherRoom.dup, otherRoom.message.seq]).toEqual([false, 1]);
      // Pairs that concatenate alike must stay apart.
      const a = await committed(state, input('r3', 'a:b', 'c'), TTL_S);
      const b = await committed(state, input('r3', 'a', 'b:c'), TTL_S);
      expect([a.dup, b.dup, b.message.seq]).toEqual([false, false, 2]);
    });

    it('a dedupe entry expires after its TTL', async () => {
      const state = await make();
      let last = await committed(state, input('r', 'alice', 'c1'), 1);
      expect((await committed(state, input('r', 'alice', 'c1'), 1)).dup).toBe(true);
      await until(async () => {
        last = await committed(state, input('r', 'alice', 'c1'), 1);
        return !last.dup;
      }, 5_000, 'the 1 s dedupe entry to expire');
      expect(last.message.seq).toBe(2);
    });

    it('200 concurrent appends get the gap-free seqs 1..200, each once', async () => {
      const state = await make(300);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => committed(state, input('r', `u${i % 7}`, `c${i}`), TTL_S)),
      );
      const seqs = results.map((r) => r.message.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(results.every((r) => !r.dup)).toBe(true);
      expect((await state.head('r')).head).toBe(200);
      const stored = await state.range('r', 1, 200);
      expect(stored.map((m) => m.seq)).toEqual(seqs);
      for (const r of results) expect(stored[r.message.seq - 1]).toEqual(r.message);
    });

    it('keeps the last recentMax messages and range() honours both bounds', async () => {
      const state = await make(5);
      for (let i = 1; i <= 8; i++) await committed(state, input('r', 'alice', `c${i}`), TTL_S);
      const seqsOf = async (from: number, to: number) => (await state.range('r', from, to)).map((m) => m.seq);
      expect(await seqsOf(1, 8)).toEqual([4, 5, 6, 7, 8]);
      expect(await seqsOf(5, 6)).toEqual([5, 6]);
      expect(await seqsOf(7, 100)).toEqual([7, 8]);
      expect(await seqsOf(1, 3)).toEqual([]);
      expect(await seqsOf(6, 5)).toEqual([]);
      expect(await state.range('unknown', 1, 10)).toEqual([]);
      expect((await state.head('r')).head).toBe(8);
    });

    it('the epoch of a room is stable across calls', async () => {
      const state = await make();
      const before = await state.head('r');
      expect(before.head).toBe(0);
      expect(before.epoch).toMatch(/^\S+$/);
      const appended = await committed(state, input('r', 'alice', 'c1'), TTL_S);
      expect(appended.epoch).toBe(before.epoch);
      expect(await state.head('r')).toEqual({ epoch: before.epoch, head: 1, seq: 1 });
      expect((await state.setRead('r', 'alice', 1)).seq).toBe(1);
      expect((await state.head('r')).epoch).toBe(before.epoch);
    });

    it('a message is pending until committed: readers see neither it nor anything after it', async () => {
      const state = await make();
      const first = await committed(state, input('r', 'alice', 'c1'), TTL_S);
      const second = await state.append(input('r', 'bob', 'c2'), TTL_S);
      const third = await committed(state, input('r', 'carol', 'c3'), TTL_S);
      expect(await state.head('r')).toEqual({ epoch: first.epoch, head: 1, seq: 3 });
      expect((await state.range('r', 1, 3)).map((m) => m.seq)).toEqual([1, 3]);
      expect(await state.read('r', 1, 3)).toStrictEqual({ durable: [first.message, third.message], pending: [second.message] });
      // A resend of the pending cid finds it (dup) and it stays pending until someone commits it.
      const again = await state.append(input('r', 'bob', 'c2', { body: 'other' }), TTL_S);
      expect({ dup: again.dup, message: again.message }).toStrictEqual({ dup: true, message: second.message });
      expect((await state.head('r')).head).toBe(1);
      expect(await state.commit('r', 'another-epoch', [second.message])).toEqual(['gone']);
      expect((await state.read('r', 2, 2)).pending).toHaveLength(1);
      expect(await state.commit('r', second.epoch, [second.message, first.message])).toEqual(['committed', 'earlier']);
      expect(await state.commit('r', second.epoch, [second.message])).toEqual(['earlier']);
      expect(await state.head('r')).toEqual({ epoch: first.epoch, head: 3, seq: 3 });
      expect(await state.read('r', 1, 3)).toStrictEqual({ durable: [first.message, second.message, third.message], pending: [] });
    });

    it('a pending message outlives the recent buffer until committed', async () => {
      const state = await make(2);
      const held = await state.append(input('r', 'alice', 'c1'), TTL_S);
      for (let i = 2; i <= 5; i++) await committed(state, input('r', 'alice', `c${i}`), TTL_S);
      expect((await state.read('r', 1, 5)).pending).toStrictEqual([held.message]);
      expect((await state.head('r')).head).toBe(0);
      await state.commit('r', held.epoch, [held.message]);
      expect((await state.head('r')).head).toBe(5);
    });

    it('setRead never lowers the pointer and caps it at head', async () => {
      const state = await make();
      expect(await state.getRead('r', 'alice')).toBe(0);
      expect(await state.setRead('r', 'alice', 5)).toEqual({ seq: 0, moved: false });
      for (let i = 1; i <= 3; i++) await committed(state, input('r', 'bob', `c${i}`), TTL_S);
      expect(await state.setRead('r', 'alice', 2)).toEqual({ seq: 2, moved: true });
      expect(await state.setRead('r', 'alice', 1)).toEqual({ seq: 2, moved: false });
      expect(await state.setRead('r', 'alice', 2)).toEqual({ seq: 2, moved: false });
      expect(await state.setRead('r', 'alice', 10)).toEqual({ seq: 3, moved: true });
      expect(await state.getRead('r', 'alice')).toBe(3);
      expect(await state.getRead('r', 'bob')).toBe(0);
      expect(await state.getRead('other', 'alice')).toBe(0);
    });
  });
}
