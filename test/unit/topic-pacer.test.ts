import { describe, expect, it } from 'vitest';
import { TopicPacer } from '../../src/gateway/topic-pacer.js';

/** A scheduler the test runs by hand: `endTurn()` ends the event-loop turn (one tick). */
function turns() {
  const queued: (() => void)[] = [];
  return {
    schedule: (fn: () => void) => queued.push(fn),
    endTurn: () => {
      for (const fn of queued.splice(0)) fn();
    },
  };
}

function setup(perTurn = 4, maxBacklog = 100) {
  const t = turns();
  /** What was published, per turn: [topic, push, from]. */
  const out: [string, string, string | undefined][][] = [[]];
  const pacer = new TopicPacer<string>((topic, push, from) => out[out.length - 1]!.push([topic, push, from]), perTurn, maxBacklog, t.schedule);
  const endTurn = () => {
    t.endTurn();
    out.push([]);
  };
  return { pacer, out, endTurn };
}

describe('TopicPacer', () => {
  it('publishes at once up to the per-turn budget of a topic, the rest in later turns, in order', () => {
    const { pacer, out, endTurn } = setup(4);
    for (let i = 1; i <= 10; i++) pacer.publish('m:r', `p${i}`);
    expect(out[0]!.map((o) => o[1])).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(pacer.backlog).toBe(6);
    endTurn();
    // The first tick runs in the same turn: the budget is spent already.
    expect(out[0]!.map((o) => o[1])).toEqual(['p1', 'p2', 'p3', 'p4']);
    endTurn();
    expect(out[1]!.map((o) => o[1])).toEqual(['p5', 'p6', 'p7', 'p8']);
    endTurn();
    expect(out[2]!.map((o) => o[1])).toEqual(['p9', 'p10']);
    expect(pacer.backlog).toBe(0);
  });

  it('holds a push behind the ones held for its topic, even with budget left', () => {
    const { pacer, out, endTurn } = setup(2);
    pacer.publish('m:r', 'a1');
    pacer.publish('m:r', 'a2');
    pacer.publish('m:r', 'a3');
    endTurn();
    // A new turn: budget again, but a3 is still held, so a4 waits behind it.
    pacer.publish('m:r', 'a4');
    endTurn();
    endTurn();
    const all = out.flat().map((o) => o[1]);
    expect(all).toEqual(['a1', 'a2', 'a3', 'a4']);
  });

  it('gives each topic its own budget', () => {
    const { pacer, out } = setup(2);
    for (const topic of ['m:a', 'm:b']) for (let i = 1; i <= 3; i++) pacer.publish(topic, `${topic}-${i}`);
    expect(out[0]!.map((o) => o[1])).toEqual(['m:a-1', 'm:a-2', 'm:b-1', 'm:b-2']);
    expect(pacer.backlog).toBe(2);
  });

  it('keeps the connection to skip with a held push', () => {
    const { pacer, out, endTurn } = setup(1);
    pacer.publish('m:r', 'msg');
    pacer.publish('m:r', 'read', 'conn-1');
    endTurn();
    endTurn();
    expect(out.flat()).toEqual([
      ['m:r', 'msg', undefined],
      ['m:r', 'read', 'conn-1'],
    ]);
  });

  it('publishes the excess over the backlog limit at once rather than hold it', () => {
    const { pacer, out, endTurn } = setup(2, 5);
    for (let i = 1; i <= 12; i++) pacer.publish('m:r', `p${i}`);
    expect(pacer.backlog).toBe(10);
    endTurn();
    // 10 held, limit 5: the tick sends 5 at once (more than the budget), in order.
    expect(out[0]!.map((o) => o[1])).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    expect(pacer.backlog).toBe(5);
    for (let i = 0; i < 4; i++) endTurn();
    expect(out.flat().map((o) => o[1])).toEqual(Array.from({ length: 12 }, (_, i) => `p${i + 1}`));
  });
});
