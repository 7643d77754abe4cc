import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RoomFeed, type HealResult } from '../../src/rooms/room-feed.js';
import type { ChatMessage } from '../../src/domain/messages.js';

const msg = (seq: number): ChatMessage => ({ room: 'r', seq, cid: `c${seq}`, from: 'u', body: `b${seq}`, ts: seq });

/** A feed over a fake room: `held` answers heals, `unsettled` marks pending seqs not finished yet. */
function feed() {
  const delivered: number[] = [];
  const heals: [number, number][] = [];
  const held = new Map<number, ChatMessage>();
  const unsettled = new Set<number>();
  const events: string[] = [];
  let failing = false;
  const f = new RoomFeed({
    deliver: (m) => delivered.push(m.seq),
    heal: (from, to): Promise<HealResult> => {
      heals.push([from, to]);
      if (failing) return Promise.reject(new Error('queue down'));
      const messages = [...held.values()].filter((m) => m.seq >= from && m.seq <= to && !unsettled.has(m.seq));
      return Promise.resolve({ messages, unsettled: [...unsettled].some((s) => s >= from && s <= to) });
    },
    onHealError: () => events.push('error'),
    onHealRecovered: () => events.push('recovered'),
    onEpochChange: () => events.push('epoch'),
  });
  return {
    f,
    delivered,
    heals,
    held,
    unsettled,
    events,
    fail: (on: boolean) => (failing = on),
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('RoomFeed', () => {
  it('delivers in seq order, drops duplicates, and heals a gap from the room', async () => {
    const t = feed();
    t.f.init('e1', 0);
    t.f.push(msg(1), 'e1');
    t.f.push(msg(1), 'e1');
    t.f.push(msg(3), 'e1');
    expect(t.delivered).toEqual([1]);
    t.held.set(2, msg(2));
    await vi.advanceTimersByTimeAsync(300);
    expect(t.delivered).toEqual([1, 2, 3]);
    expect(t.heals).toEqual([[2, 2]]);
  });

  it('catchUp fetches what the bus lost in a quiet room, with no later message to reveal it', async () => {
    const t = feed();
    t.f.init('e1', 2);
    t.held.set(3, msg(3));
    t.held.set(4, msg(4));
    t.f.catchUp('e1', 4);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.delivered).toEqual([3, 4]);
    t.f.catchUp('e1', 4);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.heals).toEqual([[3, 4]]);
  });

  it('waits for a pending seq instead of skipping it, and skips a seq gone from every copy', async () => {
    const t = feed();
    t.f.init('e1', 0);
    t.held.set(1, msg(1));
    t.unsettled.add(1);
    t.f.push(msg(2), 'e1');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.delivered).toEqual([]);
    t.unsettled.delete(1);
    await vi.advanceTimersByTimeAsync(300);
    expect(t.delivered).toEqual([1, 2]);
    // Seq 3 was never made durable and is gone: 4 and 5 are not held back for ever.
    t.f.push(msg(4), 'e1');
    t.f.push(msg(5), 'e1');
    await vi.advanceTimersByTimeAsync(300);
    expect(t.delivered).toEqual([1, 2, 4, 5]);
  });

  it('reports a failing heal once per streak and keeps retrying', async () => {
    const t = feed();
    t.f.init('e1', 0);
    t.fail(true);
    t.f.push(msg(2), 'e1');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(t.heals.length).toBeGreaterThan(3);
    expect(t.events).toEqual(['error']);
    t.fail(false);
    t.held.set(1, msg(1));
    await vi.advanceTimersByTimeAsync(300);
    expect(t.delivered).toEqual([1, 2]);
    expect(t.events).toEqual(['error', 'recovered']);
  });

  it('a counter of another epoch means the room started again: members must rejoin', () => {
    const t = feed();
    t.f.init('e1', 5);
    t.f.catchUp('e2', 1);
    expect(t.events).toEqual(['epoch']);
    t.f.push(msg(2), 'e2');
    expect(t.delivered).toEqual([2]);
  });
});
