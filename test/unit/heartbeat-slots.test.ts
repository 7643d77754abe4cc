// Heartbeats spread over the period: each connection is visited exactly once per period, the
// slots stay even, visits follow the clock even when ticks come late, and a connection dropped
// during its own visit does not upset the round.
import { describe, expect, it } from 'vitest';
import { HeartbeatSlots } from '../../src/gateway/heartbeat-slots.js';

const PERIOD = 1000;

/** One period of on-time ticks from `from`: the items of each tick's slots. */
function round<T>(slots: HeartbeatSlots<T>, from: number): T[][] {
  const tick = PERIOD / slots.count;
  return Array.from({ length: slots.count }, (_, i) => slots.due(from + i * tick).flatMap((slot) => [...slot]));
}

describe('HeartbeatSlots', () => {
  it('visits every item exactly once per period of on-time ticks, in even slices', () => {
    const slots = new HeartbeatSlots<number>(10, PERIOD, 0);
    for (let i = 0; i < 1000; i++) slots.add(i);
    for (let r = 0; r < 3; r++) {
      const visits = round(slots, r * PERIOD);
      expect(visits.map((v) => v.length)).toEqual(Array(10).fill(100));
      expect(visits.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    }
  });

  it('a tick that comes late takes every slot that fell due meanwhile, and an early one takes none', () => {
    const slots = new HeartbeatSlots<number>(10, PERIOD, 0);
    for (let i = 0; i < 100; i++) slots.add(i);
    expect(slots.due(0)).toHaveLength(1);
    expect(slots.due(50)).toHaveLength(0);
    // Three ticks late: slots 1 to 4 at once.
    expect(slots.due(450)).toHaveLength(4);
    // A stall of several periods: one full round, not several.
    const afterStall = slots.due(10_000).flatMap((slot) => [...slot]);
    expect(afterStall.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(slots.due(10_050)).toHaveLength(0);
    expect(slots.due(10_100)).toHaveLength(1);
  });

  it('with every tick late, each item is still visited once per period', () => {
    const slots = new HeartbeatSlots<number>(5, PERIOD, 0);
    for (let i = 0; i < 50; i++) slots.add(i);
    // Ticks every 350 ms instead of 200 ms: 3 periods of wall time.
    const seen = new Map<number, number>();
    for (let t = 0; t < 3 * PERIOD; t += 350) for (const slot of slots.due(t)) for (const i of slot) seen.set(i, (seen.get(i) ?? 0) + 1);
    for (let i = 0; i < 50; i++) expect(seen.get(i)).toBe(3);
  });

  it('new items fill the emptiest slot, so slots stay even under churn', () => {
    const slots = new HeartbeatSlots<number>(4, PERIOD, 0);
    for (let i = 0; i < 40; i++) slots.add(i);
    // Empty one slot almost entirely.
    const first = round(slots, 0)[0]!;
    for (const i of first.slice(1)) slots.remove(i);
    for (let i = 100; i < 109; i++) slots.add(i);
    expect(round(slots, PERIOD).map((v) => v.length)).toEqual([10, 10, 10, 10]);
    expect(slots.size).toBe(40);
  });

  it('removing items while their slot is visited is safe; they are not visited again', () => {
    const slots = new HeartbeatSlots<number>(2, PERIOD, 0);
    for (let i = 0; i < 10; i++) slots.add(i);
    const seen: number[] = [];
    for (const slot of slots.due(0)) {
      for (const i of slot) {
        seen.push(i);
        slots.remove(i);
      }
    }
    expect(seen).toHaveLength(5);
    const rest = round(slots, PERIOD / 2).flat();
    expect(rest).toHaveLength(5);
    expect(rest.some((i) => seen.includes(i))).toBe(false);
  });

  it('cuts a period into ticks of about 200 ms, at least one', () => {
    expect(HeartbeatSlots.countFor(25_000)).toBe(125);
    expect(HeartbeatSlots.countFor(1_000)).toBe(5);
    expect(HeartbeatSlots.countFor(50)).toBe(1);
    expect(HeartbeatSlots.countFor(3_600_000)).toBe(250);
  });
});
