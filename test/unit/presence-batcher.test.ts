import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceBatcher } from '../../src/rooms/presence-batcher.js';
import type { PresenceDelta, PresenceStatus } from '../../src/domain/presence.js';

const ABOVE = 3;
const INTERVAL = 1000;

/** A batcher whose pushes are recorded in order: `each` and `batched` changes, `delta`s. */
function batcher() {
  const pushes: (['each' | 'batched', string, string, PresenceStatus] | ['delta', PresenceDelta])[] = [];
  const errors: string[] = [];
  let failDelta = false;
  const b = new PresenceBatcher(
    { above: ABOVE, intervalMs: INTERVAL },
    {
      each: (room, user, status) => pushes.push(['each', room, user, status]),
      batched: (room, user, status) => pushes.push(['batched', room, user, status]),
      delta: (delta) => {
        if (failDelta) throw new Error('socket gone');
        pushes.push(['delta', delta]);
      },
      onError: (_err, room) => errors.push(room),
    },
  );
  const deltas = () => pushes.filter((p): p is ['delta', PresenceDelta] => p[0] === 'delta').map((p) => p[1]);
  return { b, pushes, deltas, errors, failDeltas: (on: boolean) => (failDelta = on) };
}

/** A delta with its lists sorted: order within a delta is irrelevant. */
const sorted = (d: PresenceDelta) => ({ room: d.room, online: [...d.online].sort(), offline: [...d.offline].sort() });

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('PresenceBatcher', () => {
  it('pushes each change at once in a room at or below the threshold', () => {
    const { b, pushes } = batcher();
    b.change('r', 'a', 'online', ABOVE);
    b.change('r', 'b', 'offline', 1);
    b.change('r', 'c', 'online', undefined);
    expect(pushes).toEqual([
      ['each', 'r', 'a', 'online'],
      ['each', 'r', 'b', 'offline'],
      ['each', 'r', 'c', 'online'],
    ]);
    vi.advanceTimersByTime(5 * INTERVAL);
    expect(pushes).toHaveLength(3);
    expect(b.batching('r')).toBe(false);
  });

  it('above the threshold, folds an interval of changes into one delta at its end', () => {
    const { b, deltas, pushes } = batcher();
    b.change('r', 'a', 'online', ABOVE + 1);
    b.change('r', 'b', 'online', ABOVE + 2);
    b.change('r', 'c', 'offline', ABOVE + 1);
    expect(deltas()).toEqual([]);
    // Connections that take changes one by one still get each at once.
    expect(pushes.map((p) => p[0])).toEqual(['batched', 'batched', 'batched']);
    vi.advanceTimersByTime(INTERVAL - 1);
    expect(deltas()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(deltas().map(sorted)).toEqual([{ room: 'r', online: ['a', 'b'], offline: ['c'] }]);
  });

  it('reports a user changed several times in an interval once, by the final state', () => {
    const { b, deltas } = batcher();
    b.change('r', 'a', 'online', 10);
    b.change('r', 'a', 'offline', 9);
    b.change('r', 'b', 'offline', 8);
    b.change('r', 'b', 'online', 9);
    b.change('r', 'c', 'online', 10);
    b.change('r', 'c', 'offline', 9);
    b.change('r', 'c', 'online', 10);
    vi.advanceTimersByTime(INTERVAL);
    expect(deltas().map(sorted)).toEqual([{ room: 'r', online: ['b', 'c'], offline: ['a'] }]);
  });

  it('pushes at most one delta per room per interval, and none for an interval without changes', () => {
    const { b, deltas } = batcher();
    b.change('r', 'a', 'online', 10);
    vi.advanceTimersByTime(INTERVAL);
    expect(deltas()).toHaveLength(1);
    vi.advanceTimersByTime(INTERVAL / 2);
    b.change('r', 'b', 'online', 11);
    b.change('r', 'c', 'online', 12);
    vi.advanceTimersByTime(INTERVAL / 2 - 1);
    expect(deltas()).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(deltas().map(sorted)).toEqual([
      { room: 'r', online: ['a'], offline: [] },
      { room: 'r', online: ['b', 'c'], offline: [] },
    ]);
    vi.advanceTimersByTime(10 * INTERVAL);
    expect(deltas()).toHaveLength(2);
    // The timer stopped with nothing pending: nothing keeps the process busy.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps rooms apart: each batching room gets its own delta, a small room its own pushes', () => {
    const { b, pushes } = batcher();
    b.change('big1', 'a', 'online', 10);
    b.change('small', 'x', 'online', 2);
    b.change('big2', 'b', 'offline', 20);
    vi.advanceTimersByTime(INTERVAL);
    expect(pushes).toEqual([
      ['batched', 'big1', 'a', 'online'],
      ['each', 'small', 'x', 'online'],
      ['batched', 'big2', 'b', 'offline'],
      ['delta', { room: 'big1', online: ['a'], offline: [] }],
      ['delta', { room: 'big2', online: [], offline: ['b'] }],
    ]);
  });

  it('crossing down: changes join the open batch until it flushes, then go out one by one', () => {
    const { b, pushes } = batcher();
    b.change('r', 'a', 'offline', ABOVE + 1);
    // Now small, but a batch is open: pushing this at once would overtake the batched change.
    b.change('r', 'b', 'offline', ABOVE);
    expect(b.batching('r')).toBe(true);
    vi.advanceTimersByTime(INTERVAL);
    expect(b.batching('r')).toBe(false);
    b.change('r', 'c', 'offline', ABOVE - 1);
    expect(pushes).toEqual([
      ['batched', 'r', 'a', 'offline'],
      ['batched', 'r', 'b', 'offline'],
      ['delta', { room: 'r', online: [], offline: ['a', 'b'] }],
      ['each', 'r', 'c', 'offline'],
    ]);
  });

  it('crossing up: the change that takes the room above the threshold opens the batch', () => {
    const { b, pushes } = batcher();
    b.change('r', 'a', 'online', ABOVE);
    b.change('r', 'b', 'online', ABOVE + 1);
    b.change('r', 'c', 'online', ABOVE + 2);
    vi.advanceTimersByTime(INTERVAL);
    expect(pushes).toEqual([
      ['each', 'r', 'a', 'online'],
      ['batched', 'r', 'b', 'online'],
      ['batched', 'r', 'c', 'online'],
      ['delta', { room: 'r', online: ['b', 'c'], offline: [] }],
    ]);
  });

  it('a delta hook that throws is reported and does not stop the other rooms', () => {
    const { b, deltas, errors, failDeltas } = batcher();
    b.change('r1', 'a', 'online', 10);
    b.change('r2', 'b', 'online', 10);
    failDeltas(true);
    vi.advanceTimersByTime(INTERVAL);
    expect(errors).toEqual(['r1', 'r2']);
    failDeltas(false);
    b.change('r1', 'c', 'online', 10);
    vi.advanceTimersByTime(INTERVAL);
    expect(deltas()).toEqual([{ room: 'r1', online: ['c'], offline: [] }]);
  });

  it('close drops what is pending and stops the timer', () => {
    const { b, deltas } = batcher();
    b.change('r', 'a', 'online', 10);
    b.close();
    vi.advanceTimersByTime(5 * INTERVAL);
    expect(deltas()).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the roster a member builds from the pushes equals the final state, whatever the changes and the timing', () => {
    const change = fc.record({
      user: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      status: fc.constantFrom<PresenceStatus>('online', 'offline'),
      occupancy: fc.integer({ min: 0, max: 2 * ABOVE }),
      wait: fc.integer({ min: 0, max: INTERVAL }),
    });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 60 }), (changes) => {
        const { b, pushes } = batcher();
        const truth = new Map<string, PresenceStatus>();
        for (const c of changes) {
          truth.set(c.user, c.status);
          b.change('r', c.user, c.status, c.occupancy);
          vi.advanceTimersByTime(c.wait);
        }
        vi.advanceTimersByTime(INTERVAL);
        // A member in `delta` mode applies `each` changes and deltas; one in `each` mode, `each` and `batched`.
        const viaDelta = new Map<string, PresenceStatus>();
        const viaEach = new Map<string, PresenceStatus>();
        for (const p of pushes) {
          if (p[0] === 'delta') {
            for (const u of p[1].online) viaDelta.set(u, 'online');
            for (const u of p[1].offline) viaDelta.set(u, 'offline');
          } else {
            viaEach.set(p[2], p[3]);
            if (p[0] === 'each') viaDelta.set(p[2], p[3]);
          }
        }
        expect(viaDelta).toEqual(truth);
        expect(viaEach).toEqual(truth);
        b.close();
      }),
      { numRuns: 200 },
    );
  });
});
