import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../src/persistence/memory-store.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { Retention } from '../../src/domain/retention.js';
import { retainedStore } from '../../src/rooms/retention.js';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;

function message(seq: number, ageDays: number): ChatMessage {
  return { room: 'r', seq, cid: `c${seq}`, from: 'ann', body: `m${seq}`, ts: NOW - ageDays * DAY + seq };
}

/** RETENTION_DAYS as readers apply it (rooms/retention.ts), on a clock of the test's own. */
describe('Retention', () => {
  const retention = new Retention(30 * DAY, () => NOW);

  it('keeps events from the cutoff on; off, it keeps everything', () => {
    const events = [message(1, 40), message(2, 31), message(3, 29), message(4, 0)];
    expect(retention.keep(events).map((m) => m.seq)).toEqual([3, 4]);
    expect(retention.cutoff()).toBe(NOW - 30 * DAY);
    const off = new Retention(0, () => NOW);
    expect(off.enabled).toBe(false);
    expect(off.keep(events)).toBe(events);
    expect(off.cutoff()).toBe(-Infinity);
  });

  it('a store page above `after` is not filled with expired messages: the cutoff is part of the query', async () => {
    const store = new MemoryMessageStore(100);
    await store.put([message(1, 45), message(2, 40), message(3, 35), message(4, 20), message(5, 10)]);
    const retained = retainedStore(store, retention);
    expect((await retained.messages('r', { after: 0, limit: 2 })).map((m) => m.seq)).toEqual([4, 5]);
    expect((await retained.messages('r', { limit: 10 })).map((m) => m.seq)).toEqual([4, 5]);
    expect((await retained.range('r', 1, 5)).map((m) => m.seq)).toEqual([4, 5]);
    // Without retention, the same store answers everything.
    expect((await retainedStore(store, new Retention(0)).messages('r', { after: 0, limit: 2 })).map((m) => m.seq)).toEqual([1, 2]);
  });
});
