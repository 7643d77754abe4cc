import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoomTracker, type RoomEvent } from '../../packages/client/src/rooms.js';
import { applyChange, applyReply, newerCopy } from '../../packages/client/src/summaries.js';
import type { Change } from '../../packages/client/src/change-types.js';
import type { JoinReply } from '../../packages/client/src/reply-types.js';
import type { ChatMessage } from '../../packages/client/src/types.js';
import { applyEvent, foldSummary, newSummaryState, summarize } from '../../src/domain/summary.js';
import { sequenceChange } from '../../src/rooms/changes/change-rules.js';

/**
 * The SDK's side of message changes (docs/protocol.md, "Message changes"): the room tracker
 * delivers messages and changes once each, in one seq order; `applyChange`, `applyReply` and
 * `newerCopy` keep a copy of a message where the server's fold (src/domain/summary.ts) is.
 */

const msg = (seq: number, over: Partial<ChatMessage> = {}): ChatMessage => ({ room: 'r', seq, cid: `c${seq}`, from: 'ann', body: `m${seq}`, ts: seq, ...over });
const chg = (seq: number, target: number, over: Partial<Change> = {}): Change => ({ room: 'r', seq, cid: `c${seq}`, from: 'bob', ts: seq, op: 'react', target, reaction: 'ok', count: 1, users: ['bob'], ...over });
const reply = (over: Partial<JoinReply>): JoinReply => ({ room: 'r', epoch: 'e1', head: 0, lastRead: 0, unread: 0, occupancy: 1, messages: [], changes: [], recovered: false, more: false, ...over });

describe('RoomTracker with changes', () => {
  it('delivers a recovery’s messages and changes merged by seq, then live ones once each', () => {
    const seen: string[] = [];
    const rooms = new RoomTracker({ msg: (m) => seen.push(`m${m.seq}`), change: (c) => seen.push(`c${c.seq}`), gap: () => seen.push('gap') });
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 1 }));
    rooms.disconnected();
    const ticket = rooms.beginJoin('r');
    rooms.onEvent(chg(5, 2)); // a live push racing the recovery waits for it
    rooms.applyJoin(ticket, reply({ head: 4, recovered: true, messages: [msg(2), msg(4)], changes: [chg(3, 2)] }));
    for (const e of [chg(4, 2), chg(5, 2), msg(6)] as RoomEvent[]) rooms.onEvent(e);
    expect(seen).toEqual(['m2', 'c3', 'm4', 'c5', 'm6']);
  });

  it('a join with more continues when the first event after since is a change', () => {
    const rooms = new RoomTracker({ msg: () => undefined, change: () => undefined, gap: () => expect.unreachable('no gap') });
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 1 }));
    rooms.disconnected();
    const ticket = rooms.beginJoin('r');
    expect(rooms.applyJoin(ticket, reply({ head: 9, more: true, changes: [chg(2, 1)], messages: [msg(3)] }))).toBe(true);
    expect(rooms.position('r')?.seq).toBe(3);
  });
});

describe('applyChange, applyReply, newerCopy', () => {
  it('applies each kind of change once, and skips one already folded in', () => {
    let m = msg(1, { meta: { a: 1 } });
    m = applyChange(m, chg(2, 1, { op: 'edit', body: 'edited', version: 2, reaction: undefined, count: undefined, users: undefined }));
    expect(m).toEqual({ ...msg(1), body: 'edited', version: 2, changed: 2 });
    m = applyChange(m, chg(3, 1));
    expect(m.reactions).toEqual({ ok: { count: 1, users: ['bob'] } });
    expect(applyChange(m, chg(3, 1, { count: 5 }))).toBe(m);
    expect(applyChange(m, chg(4, 99))).toBe(m);
    m = applyChange(m, chg(4, 1, { op: 'unreact', count: 0, users: [] }));
    expect('reactions' in m).toBe(false);
    m = applyReply(m, msg(5, { parent: 1, from: 'cat' }));
    expect(m.replies).toEqual({ count: 1, last: { seq: 5, from: 'cat', ts: 5 } });
    expect(applyReply(m, msg(5, { parent: 1 }))).toBe(m);
    m = applyChange(m, chg(6, 1, { op: 'delete', version: 3 }));
    expect(m).toMatchObject({ body: '', deleted: true, version: 3, changed: 6 });
    expect(newerCopy(m, { ...m, changed: 5 })).toBe(m);
    const fresh = { ...m, changed: 7 };
    expect(newerCopy(m, fresh)).toBe(fresh);
  });

  it('a client applying the events in order, from any folded copy, ends where the server’s fold is', () => {
    // Random events about message 1, sequenced by the server's fold (the memory room state's rules).
    const step = fc.record({ user: fc.constantFrom('u1', 'u2', 'u3'), kind: fc.constantFrom('react', 'unreact', 'edit', 'reply'), reaction: fc.constantFrom('a', 'b') });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), fc.nat(30), (steps, cut) => {
        const state = newSummaryState('ann');
        const original = msg(1);
        const events: (ChatMessage | Change)[] = [];
        let seq = 1;
        for (const s of steps) {
          seq++;
          if (s.kind === 'reply') {
            const r = msg(seq, { parent: 1, from: s.user });
            applyEvent(state, r);
            events.push(r);
            continue;
          }
          const held = state.reactions.get(s.reaction)?.get(s.user);
          if (s.kind === 'react' && held && held.seq > 0) continue;
          if (s.kind === 'unreact' && !(held && held.seq > 0)) continue;
          const base = { room: 'r', seq, cid: `c${seq}`, from: s.kind === 'edit' ? 'ann' : s.user, body: s.kind === 'edit' ? `v${seq}` : '', ts: seq, op: s.kind, target: 1 } as const;
          const done = sequenceChange(state, s.kind === 'edit' ? base : { ...base, reaction: s.reaction }, 2);
          const { body: _body, ...rest } = done;
          events.push((done.op === 'edit' ? done : rest) as Change);
        }
        const server = foldSummary(original, summarize(state, 2));
        // A client that got a folded copy made after `cut` events, then the rest live.
        const at = Math.min(cut, events.length);
        const early = newSummaryState('ann');
        for (const e of events.slice(0, at)) applyEvent(early, 'op' in e ? { ...e, body: e.body ?? '' } : e);
        let copy = foldSummary(original, summarize(early, 2));
        for (const e of events) copy = 'op' in e ? applyChange(copy, e) : applyReply(copy, e);
        expect(copy).toEqual(server);
      }),
      { numRuns: 300 },
    );
  });
});
