// What every MessageStore does with changes and replies (docs/protocol.md, "Persistence"):
// folds them into their messages, idempotently and in any order.
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/domain/messages.js';
import { openedStores, type StoreUnderTest } from './message-store.contract.js';

const TS = 1_700_000_000_000;
const ev = (room: string, seq: number, from: string, over: Partial<ChatMessage>): ChatMessage => ({ room, seq, cid: `c${seq}`, from, body: '', ts: TS + seq, ...over });

/** A room's events as the room state sequences them: a message, its changes, a thread, another message. */
function story(room: string): ChatMessage[] {
  return [
    ev(room, 1, 'ann', { body: 'hello', meta: { v: 1 } }),
    ev(room, 2, 'ann', { op: 'edit', target: 1, body: 'hello, edited', version: 2 }),
    ev(room, 3, 'bob', { op: 'react', target: 1, reaction: '👍', count: 1, users: ['bob'] }),
    ev(room, 4, 'cat', { op: 'react', target: 1, reaction: '👍', count: 2, users: ['bob', 'cat'] }),
    ev(room, 5, 'bob', { op: 'unreact', target: 1, reaction: '👍', count: 1, users: ['cat'] }),
    ev(room, 6, 'bob', { body: 'a reply', parent: 1 }),
    ev(room, 7, 'dan', { body: 'unrelated' }),
    ev(room, 8, 'cat', { body: 'another reply', parent: 1 }),
    ev(room, 9, 'ann', { op: 'react', target: 7, reaction: 'a.b$c', count: 1, users: ['ann'] }),
  ];
}

const FOLDED_1 = { room: 'r', seq: 1, cid: 'c1', from: 'ann', body: 'hello, edited', ts: TS + 1, version: 2, reactions: { '👍': { count: 1, users: ['cat'] } }, replies: { count: 2, last: { seq: 8, from: 'cat', ts: TS + 8 } }, changed: 8 };

export function messageStoreChangesContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`MessageStore contract, changes: ${name}`, () => {
    const open = openedStores(make);

    it('folds changes and replies into their messages; range keeps the change events', async () => {
      const store = await open();
      await store.put(story('r'));
      const events = await store.range('r', 1, 9);
      expect(events[0]).toEqual(FOLDED_1);
      expect(events[6]).toEqual({ room: 'r', seq: 7, cid: 'c7', from: 'dan', body: 'unrelated', ts: TS + 7, reactions: { 'a.b$c': { count: 1, users: ['ann'] } }, changed: 9 });
      expect(events[2]).toEqual(story('r')[2]);
      expect(events[5]).toEqual(story('r')[5]);
      const state = await store.summaryState('r', 1);
      expect(state === 'change' || state === undefined ? state : [state.author, state.version, state.edit?.body, state.replies.seqs.size]).toEqual(['ann', 2, 'hello, edited', 2]);
      expect(await store.summaryState('r', 2)).toBe('change');
      expect(await store.summaryState('r', 99)).toBeUndefined();
    });

    it('the same events out of order, each twice, end in the same state', async () => {
      const store = await open();
      const events = story('r');
      // Messages first (a change waits for its message), then the changes and replies backwards, twice.
      const messages = events.filter((e) => e.op === undefined && e.parent === undefined);
      await store.put(messages);
      for (const e of [...events].reverse()) if (!messages.includes(e)) await store.put([e]);
      for (const e of events) await store.put([e]);
      const got = await store.range('r', 1, 9);
      expect(got[0]).toEqual(FOLDED_1);
      expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('a delete leaves a tombstone and no body: neither the message nor its edits keep one', async () => {
      const store = await open();
      await store.put(story('r'));
      await store.put([ev('r', 10, 'ann', { op: 'delete', target: 1, version: 3 })]);
      const got = await store.range('r', 1, 2);
      expect(got[0]).toEqual({ ...FOLDED_1, body: '', version: 3, deleted: true, changed: 10 });
      expect(got[1]).toEqual({ room: 'r', seq: 2, cid: 'c2', from: 'ann', body: '', ts: TS + 2, op: 'edit', target: 1, version: 2 });
      // An edit that arrives after the delete keeps no body either.
      const late = await open();
      await late.put([ev('s', 1, 'ann', { body: 'secret' })]);
      await late.put([ev('s', 3, 'ann', { op: 'delete', target: 1, version: 3 })]);
      await late.put([ev('s', 2, 'ann', { op: 'edit', target: 1, body: 'also secret', version: 2 })]);
      expect((await late.range('s', 1, 3)).map((e) => [e.body, e.version])).toEqual([['', 3], ['', 2], ['', 3]]);
    });

    it('messages: the newest below before or the oldest above after, a thread with parent, never changes', async () => {
      const store = await open();
      await store.put(story('r'));
      const seqs = (list: ChatMessage[]) => list.map((m) => m.seq);
      expect(seqs(await store.messages('r', { limit: 10 }))).toEqual([1, 6, 7, 8]);
      expect(seqs(await store.messages('r', { before: 8, limit: 2 }))).toEqual([6, 7]);
      expect(seqs(await store.messages('r', { after: 1, limit: 2 }))).toEqual([6, 7]);
      expect(seqs(await store.messages('r', { parent: 1, limit: 10 }))).toEqual([6, 8]);
      expect(seqs(await store.messages('r', { parent: 1, after: 6, limit: 10 }))).toEqual([8]);
      expect(seqs(await store.messages('r', { parent: 1, before: 8, limit: 10 }))).toEqual([6]);
      expect((await store.messages('r', { before: 2, limit: 1 }))[0]).toEqual(FOLDED_1);
    });
  });
}
