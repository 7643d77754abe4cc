// The RoomState contract of message changes (src/rooms/state/room-state.ts `change` and
// `summaries`, docs/protocol.md "Message changes"), run against every adapter.
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/domain/messages.js';
import { newSummaryState } from '../../src/domain/summary.js';
import type { ChangeInput, ChangeResult, ChangeRules, RoomState } from '../../src/rooms/state/room-state.js';
import { madeStates, type RoomStateFactory } from './room-state.contract.js';

const RULES: ChangeRules = { dedupeTtlS: 60, usersShown: 2, kindsPerMessage: 3 };
const TS = 1_700_000_000_000;

function change(room: string, from: string, cid: string, op: ChangeInput['op'], target: number, extra: Partial<ChangeInput> = {}): ChangeInput {
  return { room, from, cid, op, target, ts: TS, ...extra };
}

/** The appended event of a result; fails otherwise. */
function appended(r: ChangeResult): ChatMessage {
  if (r.kind !== 'appended') throw new Error(`expected an appended change, got ${JSON.stringify(r)}`);
  return r.message;
}

export function roomChangesContract(name: string, factory: RoomStateFactory): void {
  describe(`${name}: RoomState contract, message changes`, () => {
    const make = madeStates(factory);

    /** Appends and commits a message. */
    const send = async (state: RoomState, room: string, from: string, cid: string, body = `body of ${cid}`): Promise<ChatMessage> => {
      const r = await state.append({ room, from, cid, body, ts: TS }, RULES.dedupeTtlS);
      await state.commit(room, r.epoch, [r.message]);
      return r.message;
    };
    /** Sequences and commits a change. */
    const commit = async (state: RoomState, input: ChangeInput): Promise<ChatMessage> => {
      const r = await state.change(input, RULES);
      const m = appended(r);
      if (r.kind === 'appended') await state.commit(input.room, r.epoch, [m]);
      return m;
    };

    it('an edit by the author takes the next seq, versioned; anyone else is forbidden', async () => {
      const state = await make();
      const m = await send(state, 'r', 'ann', 'm1');
      const edit = await commit(state, change('r', 'ann', 'e1', 'edit', m.seq, { body: 'new "body" ü', meta: { a: [1, 'x'] } }));
      expect(edit).toStrictEqual({ room: 'r', seq: 2, cid: 'e1', from: 'ann', body: 'new "body" ü', meta: { a: [1, 'x'] }, ts: TS, op: 'edit', target: 1, version: 2 });
      expect(appended(await state.change(change('r', 'ann', 'e2', 'edit', m.seq, { body: 'third' }), RULES)).version).toBe(3);
      expect(await state.change(change('r', 'bob', 'e3', 'edit', m.seq, { body: 'x' }), RULES)).toMatchObject({ kind: 'refused', code: 'forbidden' });
      expect(await state.change(change('r', 'bob', 'd1', 'delete', m.seq), RULES)).toMatchObject({ kind: 'refused', code: 'forbidden' });
      expect(await state.change(change('r', 'ann', 'e4', 'edit', 99, { body: 'x' }), RULES)).toMatchObject({ kind: 'refused', code: 'not_found' });
      expect(await state.change(change('r', 'ann', 'e5', 'edit', edit.seq, { body: 'x' }), RULES)).toMatchObject({ kind: 'refused', code: 'not_found' });
      expect((await state.head('r')).seq).toBe(3);
      const [summary] = (await state.summaries('r', [1, 2], RULES.usersShown)).values();
      expect(summary).toEqual({ changed: 3, version: 3, edit: { body: 'third' } });
    });

    it('a change is deduplicated by (from, room, cid) like a send', async () => {
      const state = await make();
      const m = await send(state, 'r', 'ann', 'm1');
      const first = await commit(state, change('r', 'bob', 'k1', 'react', m.seq, { reaction: '👍' }));
      expect(await state.change(change('r', 'bob', 'k1', 'react', m.seq, { reaction: '👍' }), RULES)).toMatchObject({ kind: 'appended', dup: true, message: first });
      // A send with a cid used by a change is its duplicate too: one cid space.
      expect((await state.append({ room: 'r', from: 'bob', cid: 'k1', body: 'x', ts: TS }, 60)).dup).toBe(true);
    });

    it('reactions: once per user and kind, counted, the first users shown, a limit on kinds', async () => {
      const state = await make();
      const m = await send(state, 'r', 'ann', 'm1');
      const react = (user: string, reaction: string, cid: string) => state.change(change('r', user, cid, 'react', m.seq, { reaction }), RULES);
      const unreact = (user: string, reaction: string, cid: string) => state.change(change('r', user, cid, 'unreact', m.seq, { reaction }), RULES);
      const e1 = appended(await react('u1', 'ok', 'a'));
      expect([e1.count, e1.users]).toEqual([1, ['u1']]);
      expect(await react('u1', 'ok', 'b')).toEqual({ kind: 'held', seq: e1.seq, ts: TS, epoch: expect.any(String) });
      expect(appended(await react('u2', 'ok', 'c')).users).toEqual(['u1', 'u2']);
      expect([appended(await react('u3', 'ok', 'd'))].map((e) => [e.count, e.users])).toEqual([[3, ['u1', 'u2']]]);
      // The first user leaves: the next in reacting order is shown.
      const gone = appended(await unreact('u1', 'ok', 'e'));
      expect([gone.op, gone.count, gone.users, gone.body]).toEqual(['unreact', 2, ['u2', 'u3'], '']);
      expect(await unreact('u1', 'ok', 'f')).toEqual({ kind: 'held', seq: gone.seq, ts: TS, epoch: expect.any(String) });
      expect(await unreact('u9', 'ok', 'g')).toMatchObject({ kind: 'refused', code: 'not_found' });
      appended(await react('u1', 'ok', 'h'));
      appended(await react('u1', 'two', 'i'));
      appended(await react('u1', 'three', 'j'));
      expect(await react('u2', 'four', 'k')).toMatchObject({ kind: 'refused', code: 'forbidden' });
      // A kind nobody has any more frees its place.
      appended(await unreact('u1', 'three', 'l'));
      expect(appended(await react('u2', 'four', 'm')).reaction).toBe('four');
      const summary = (await state.summaries('r', [m.seq], RULES.usersShown)).get(m.seq);
      expect(summary?.reactions).toEqual({ ok: { count: 3, users: ['u2', 'u3'] }, two: { count: 1, users: ['u1'] }, four: { count: 1, users: ['u2'] } });
    });

    it('concurrent reactions of many users, each sent twice: every user counted once', async () => {
      const state = await make(500);
      const m = await send(state, 'r', 'ann', 'm1');
      const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
      const results = await Promise.all(users.flatMap((u) => [state.change(change('r', u, `${u}-a`, 'react', m.seq, { reaction: '🎉' }), RULES), state.change(change('r', u, `${u}-b`, 'react', m.seq, { reaction: '🎉' }), RULES)]));
      expect(results.filter((r) => r.kind === 'appended')).toHaveLength(40);
      expect(results.filter((r) => r.kind === 'held')).toHaveLength(40);
      const counts = results.flatMap((r) => (r.kind === 'appended' ? [r.message.count] : [])).sort((a, b) => (a ?? 0) - (b ?? 0));
      expect(counts).toEqual(users.map((_, i) => i + 1));
      expect((await state.summaries('r', [m.seq], RULES.usersShown)).get(m.seq)?.reactions).toEqual({ '🎉': { count: 40, users: expect.any(Array) } });
      expect((await state.head('r')).seq).toBe(41);
    });

    it('a delete leaves a tombstone: no body in the buffer, neither of the message nor of its edits', async () => {
      const state = await make();
      const m = await send(state, 'r', 'ann', 'm1', 'secret');
      await commit(state, change('r', 'ann', 'e1', 'edit', m.seq, { body: 'still secret', meta: { x: 1 } }));
      await commit(state, change('r', 'bob', 'k1', 'react', m.seq, { reaction: 'ok' }));
      const del = await commit(state, change('r', 'ann', 'd1', 'delete', m.seq));
      expect([del.op, del.version, del.body]).toEqual(['delete', 3, '']);
      const events = await state.range('r', 1, 10);
      expect(events.map((e) => [e.seq, e.body, 'meta' in e])).toEqual([
        [1, '', false],
        [2, '', false],
        [3, '', false],
        [4, '', false],
      ]);
      expect(events[1]).toStrictEqual({ room: 'r', seq: 2, cid: 'e1', from: 'ann', body: '', ts: TS, op: 'edit', target: 1, version: 2 });
      expect(await state.change(change('r', 'ann', 'd2', 'delete', m.seq), RULES)).toEqual({ kind: 'held', seq: del.seq, ts: TS, epoch: expect.any(String) });
      for (const op of ['edit', 'react', 'unreact', 'reply'] as const) {
        expect(await state.change(change('r', 'ann', `x-${op}`, op, m.seq, { body: 'x', reaction: 'ok' }), RULES)).toMatchObject({ kind: 'refused', code: 'not_found' });
      }
      const summary = (await state.summaries('r', [m.seq], RULES.usersShown)).get(m.seq);
      expect(summary).toEqual({ changed: del.seq, version: 3, deleted: true, reactions: { ok: { count: 1, users: ['bob'] } } });
      // A resend of the deleted message's cid is still its duplicate, not a new message.
      const again = await state.append({ room: 'r', from: 'ann', cid: 'm1', body: 'secret', ts: TS }, 60);
      expect([again.dup, again.message.seq]).toEqual([true, 1]);
      expect((await state.head('r')).seq).toBe(4);
    });

    it('a delete of a message still pending: the message is committed all the same, without its body', async () => {
      const state = await make();
      const pending = await state.append({ room: 'r', from: 'ann', cid: 'm1', body: 'secret', ts: TS }, 60);
      const del = await state.change(change('r', 'ann', 'd1', 'delete', pending.message.seq), RULES);
      expect(await state.commit('r', pending.epoch, [pending.message])).toEqual(['committed']);
      expect(await state.commit('r', pending.epoch, [pending.message])).toEqual(['earlier']);
      await state.commit('r', pending.epoch, [appended(del)]);
      expect((await state.range('r', 1, 2)).map((e) => e.body)).toEqual(['', '']);
      expect((await state.head('r')).head).toBe(2);
    });

    it('replies: a message with parent, counted in the parent summary with the newest reply', async () => {
      const state = await make();
      const root = await send(state, 'r', 'ann', 'root');
      const r1 = await commit(state, change('r', 'bob', 'r1', 'reply', root.seq, { body: 'first', meta: { q: true } }));
      expect(r1).toStrictEqual({ room: 'r', seq: 2, cid: 'r1', from: 'bob', body: 'first', meta: { q: true }, ts: TS, parent: 1 });
      const r2 = await commit(state, change('r', 'cat', 'r2', 'reply', root.seq, { body: 'second' }));
      expect((await state.summaries('r', [root.seq, r1.seq], RULES.usersShown)).get(root.seq)).toEqual({ changed: r2.seq, version: 1, replies: { count: 2, last: { seq: r2.seq, from: 'cat', ts: TS } } });
      expect((await state.summaries('r', [r1.seq], RULES.usersShown)).size).toBe(0);
    });

    it('a message older than the recent buffer is unknown until seeded', async () => {
      const state = await make(2);
      const old = await send(state, 'r', 'ann', 'm1');
      for (let i = 2; i <= 4; i++) await send(state, 'r', 'bob', `m${i}`);
      const react = change('r', 'bob', 'k1', 'react', old.seq, { reaction: 'ok' });
      expect(await state.change(react, RULES)).toEqual({ kind: 'unknown' });
      const seed = newSummaryState('ann');
      seed.reactions.set('ok', new Map([['cat', { seq: 3, ts: TS }]]));
      const e = appended(await state.change(react, RULES, { seed: { state: seed, editSeqs: [] } }));
      expect([e.count, e.users]).toEqual([2, ['cat', 'bob']]);
      // Seeded once: the author is known from the seed.
      expect(await state.change(change('r', 'bob', 'e1', 'edit', old.seq, { body: 'x' }), RULES)).toMatchObject({ kind: 'refused', code: 'forbidden' });
      expect(appended(await state.change(change('r', 'ann', 'e2', 'edit', old.seq, { body: 'x' }), RULES)).version).toBe(2);
    });
  });
}
