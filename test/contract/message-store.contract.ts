import { afterEach, describe, expect, it } from 'vitest';
import type { MessageStore } from '../../src/persistence/message-store.js';
import type { ChatMessage } from '../../src/domain/messages.js';

export interface StoreUnderTest {
  store: MessageStore;
  /** Releases what the store used (drops its database); the store is closed by the suite. */
  cleanup(): Promise<void>;
}

const msg = (room: string, seq: number, over: Partial<ChatMessage> = {}): ChatMessage => ({
  room,
  seq,
  cid: `c${seq}`,
  from: 'alice',
  body: `body ${seq}`,
  ts: 1_700_000_000_000 + seq,
  ...over,
});

/** Inside a describe block: opens started stores of `make`, each closed and cleaned up after its test. */
export function openedStores(make: () => Promise<StoreUnderTest>): () => Promise<MessageStore> {
  const opened: StoreUnderTest[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) {
      await s.store.close();
      await s.cleanup();
    }
  });
  return async () => {
    const s = await make();
    opened.push(s);
    await s.store.start();
    return s.store;
  };
}

/** What every MessageStore must do, embedded (memory) or MongoDB. */
export function messageStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`MessageStore contract: ${name}`, () => {
    const open = openedStores(make);

    it('returns what was put, field for field, with and without meta', async () => {
      const store = await open();
      const a = msg('r1', 1, { meta: { kind: 'text', n: 2, nested: { ok: true } } });
      const b = msg('r1', 2, { body: 'ünïcødé ✓' });
      await store.put([a, b]);
      expect(await store.range('r1', 1, 2)).toEqual([a, b]);
    });

    it('range is inclusive, ordered by seq whatever the order of puts, and empty outside', async () => {
      const store = await open();
      await store.put([msg('r', 5), msg('r', 1), msg('r', 3)]);
      await store.put([msg('r', 4), msg('r', 2)]);
      expect((await store.range('r', 1, 5)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      expect((await store.range('r', 2, 4)).map((m) => m.seq)).toEqual([2, 3, 4]);
      expect((await store.range('r', 0, Number.MAX_SAFE_INTEGER)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(await store.range('r', 6, 10)).toEqual([]);
      expect(await store.range('r', 4, 2)).toEqual([]);
      expect(await store.range('nowhere', 1, 10)).toEqual([]);
    });

    it('put is idempotent per (room, seq): repeats, overlaps and in-batch copies are stored once', async () => {
      const store = await open();
      const batch = [1, 2, 3].map((s) => msg('idem', s));
      await store.put(batch);
      await store.put(batch);
      await store.put([msg('idem', 3), msg('idem', 4), msg('idem', 4), msg('idem', 5)]);
      await store.put([]);
      expect((await store.range('idem', 1, 10)).map((m) => `${m.seq}:${m.cid}`)).toEqual(['1:c1', '2:c2', '3:c3', '4:c4', '5:c5']);
    });

    it('a cid reused under another seq (after the dedupe window) is a second message, not a conflict', async () => {
      const store = await open();
      await store.put([msg('reuse', 1, { cid: 'same' })]);
      await store.put([msg('reuse', 2), msg('reuse', 3, { cid: 'same', body: 'later' }), msg('reuse', 4, { cid: 'same', from: 'bob' })]);
      expect((await store.range('reuse', 1, 9)).map((m) => `${m.seq}:${m.from}:${m.cid}:${m.body}`)).toEqual([
        '1:alice:same:body 1',
        '2:alice:c2:body 2',
        '3:alice:same:later',
        '4:bob:same:body 4',
      ]);
    });

    it('keeps rooms apart, including names with dots and colons', async () => {
      const store = await open();
      await store.put([msg('a.b', 1), msg('a:b', 1, { cid: 'x' }), msg('a', 1, { cid: 'y' }), msg('a.b', 2)]);
      expect((await store.range('a.b', 1, 9)).map((m) => m.seq)).toEqual([1, 2]);
      expect((await store.range('a:b', 1, 9)).map((m) => m.cid)).toEqual(['x']);
      expect((await store.range('a', 1, 9)).map((m) => m.cid)).toEqual(['y']);
    });

    it('stores a 600-message batch from several senders in one put', async () => {
      const store = await open();
      const batch = Array.from({ length: 600 }, (_, i) => msg('big', 600 - i, { from: `u${i % 7}` }));
      await store.put(batch);
      const got = await store.range('big', 1, 600);
      expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
      expect(got.find((m) => m.seq === 10)).toEqual(msg('big', 10, { from: `u${590 % 7}` }));
    });
  });
}
