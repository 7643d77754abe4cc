// Heartbeats spread over the period: each connection is visited exactly once per period, the
// slots stay even, and a connection dropped during its own visit does not upset the round.
import { describe, expect, it } from 'vitest';
import { HeartbeatSlots } from '../../src/gateway/heartbeat-slots.js';

function round<T>(slots: HeartbeatSlots<T>): T[][] {
  return Array.from({ length: slots.count }, () => [...slots.take()]);
}

describe('HeartbeatSlots', () => {
  it('visits every item exactly once per round of `count` takes, in even slices', () => {
    const slots = new HeartbeatSlots<number>(10);
    for (let i = 0; i < 1000; i++) slots.add(i);
    for (let r = 0; r < 3; r++) {
      const visits = round(slots);
      expect(visits.map((v) => v.length)).toEqual(Array(10).fill(100));
      expect(visits.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    }
  });

  it('new items fill the emptiest slot, so slots stay even under churn', () => {
    const slots = new HeartbeatSlots<number>(4);
    for (let i = 0; i < 40; i++) slots.add(i);
    // Empty one slot almost entirely.
    const first = [...round(slots)[0]!];
    for (const i of first.slice(1)) slots.remove(i);
    for (let i = 100; i < 109; i++) slots.add(i);
    expect(round(slots).map((v) => v.length)).toEqual([10, 10, 10, 10]);
    expect(slots.size).toBe(40);
  });

  it('removing items while their slot is visited is safe; they are not visited again', () => {
    const slots = new HeartbeatSlots<number>(2);
    for (let i = 0; i < 10; i++) slots.add(i);
    const seen: number[] = [];
    for (const i of slots.take()) {
      seen.push(i);
      slots.remove(i);
    }
    expect(seen).toHaveLength(5);
    const rest = round(slots).flat();
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
