import { describe, expect, it } from 'vitest';
import { frameText, TurnBatches } from '../../src/gateway/turn-batches.js';

/** A scheduler the test runs by hand: `endTurn()` is the end of the event-loop turn. */
function turns() {
  const queued: (() => void)[] = [];
  return {
    schedule: (fn: () => void) => queued.push(fn),
    get armed() {
      return queued.length;
    },
    endTurn: () => {
      for (const fn of queued.splice(0)) fn();
    },
  };
}

const push = (seq: number) => JSON.stringify({ t: 'msg', room: 'r', seq, body: 'x' });

function setup(maxFrameSize = 64 * 1024) {
  const t = turns();
  const frames: { room: string; frame: string }[] = [];
  const batches = new TurnBatches((room, frame) => frames.push({ room, frame }), maxFrameSize, t.schedule);
  return { t, frames, batches };
}

describe('TurnBatches', () => {
  it("publishes a room's pushes of one turn as one array frame, in order, at the end of the turn", () => {
    const { t, frames, batches } = setup();
    for (let seq = 1; seq <= 5; seq++) batches.add('r', push(seq));
    expect(frames).toEqual([]);
    expect(t.armed).toBe(1);
    t.endTurn();
    expect(frames).toHaveLength(1);
    const parsed = JSON.parse(frames[0]!.frame) as { seq: number }[];
    expect(parsed.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(batches.pending).toBe(0);
  });

  it('keeps rooms apart: one frame per room', () => {
    const { t, frames, batches } = setup();
    batches.add('a', push(1));
    batches.add('b', push(1));
    batches.add('a', push(2));
    t.endTurn();
    expect(frames.map((f) => f.room).sort()).toEqual(['a', 'b']);
    expect(JSON.parse(frames.find((f) => f.room === 'a')!.frame)).toHaveLength(2);
  });

  it('sends a lone push as the object itself, not an array of one', () => {
    const { t, frames, batches } = setup();
    batches.add('r', push(7));
    t.endTurn();
    expect(frames[0]!.frame).toBe(push(7));
    expect(frameText([push(1), push(2)])).toBe(`[${push(1)},${push(2)}]`);
  });

  it('flush(room) publishes what the room holds so far; later pushes go in a later frame', () => {
    const { t, frames, batches } = setup();
    batches.add('r', push(1));
    batches.add('r', push(2));
    batches.flush('r');
    batches.add('r', push(3));
    t.endTurn();
    expect(frames.map((f) => f.frame)).toEqual([`[${push(1)},${push(2)}]`, push(3)]);
    batches.flush('r');
    expect(frames).toHaveLength(2);
  });

  it('starts a new frame before one would pass the size limit; a larger push goes alone', () => {
    const one = push(1).length;
    const { t, frames, batches } = setup(3 * (one + 1) + 1);
    for (let seq = 1; seq <= 7; seq++) batches.add('r', push(seq));
    const big = JSON.stringify({ t: 'msg', room: 'r', seq: 8, body: 'y'.repeat(10 * one) });
    batches.add('r', big);
    t.endTurn();
    const seqs = frames.map((f) => {
      const v = JSON.parse(f.frame) as { seq: number } | { seq: number }[];
      return Array.isArray(v) ? v.map((p) => p.seq) : [v.seq];
    });
    expect(seqs).toEqual([[1, 2, 3], [4, 5, 6], [7], [8]]);
    for (const f of frames.slice(0, 2)) expect(f.frame.length).toBeLessThanOrEqual(3 * (one + 1) + 1);
  });

  it('arms one flush per turn, and again in the next turn', () => {
    const { t, frames, batches } = setup();
    batches.add('r', push(1));
    batches.add('r', push(2));
    expect(t.armed).toBe(1);
    t.endTurn();
    batches.add('r', push(3));
    expect(t.armed).toBe(1);
    t.endTurn();
    expect(frames.map((f) => f.frame)).toEqual([`[${push(1)},${push(2)}]`, push(3)]);
  });
});
