// Slow-consumer checks driven by activity: nothing runs on an idle node; a write to a room
// checks its members, a write to a session checks it; a session with a backlog is checked
// again until it drains, or at once on its socket's drain.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlowChecks } from '../../src/gateway/slow-checks.js';

afterEach(() => {
  vi.useRealTimers();
});

function setup(rooms: Record<string, string[]>) {
  const buffered = new Map<string, number>();
  const checked: string[] = [];
  const checks = new SlowChecks<string>({
    delayMs: 100,
    membersOf: (room) => rooms[room] ?? [],
    check: (s) => {
      checked.push(s);
      return (buffered.get(s) ?? 0) > 0;
    },
  });
  return { checks, buffered, checked };
}

describe('SlowChecks', () => {
  it('does nothing and runs no timer while nothing is written', () => {
    vi.useFakeTimers();
    const { checks, checked } = setup({ r: ['a', 'b'] });
    vi.advanceTimersByTime(10_000);
    expect(checked).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    checks.close();
  });

  it("checks a room's members once, after the delay, however many pushes it had", () => {
    vi.useFakeTimers();
    const { checks, checked } = setup({ r: ['a', 'b'], other: ['c'] });
    for (let i = 0; i < 50; i++) checks.roomWritten('r');
    checks.sessionWritten('a');
    vi.advanceTimersByTime(99);
    expect(checked).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(checked.sort()).toEqual(['a', 'b']);
    vi.advanceTimersByTime(1_000);
    expect(checked).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
    checks.close();
  });

  it('keeps checking a session with a backlog until it drains, then stops', () => {
    vi.useFakeTimers();
    const { checks, buffered, checked } = setup({ r: ['a', 'b'] });
    buffered.set('a', 5000);
    checks.roomWritten('r');
    vi.advanceTimersByTime(100);
    expect(checks.backlogSize).toBe(1);
    vi.advanceTimersByTime(300);
    expect(checked.filter((s) => s === 'a')).toHaveLength(4);
    expect(checked.filter((s) => s === 'b')).toHaveLength(1);
    buffered.set('a', 0);
    vi.advanceTimersByTime(100);
    expect(checks.backlogSize).toBe(0);
    const count = checked.length;
    vi.advanceTimersByTime(1_000);
    expect(checked).toHaveLength(count);
    expect(vi.getTimerCount()).toBe(0);
    checks.close();
  });

  it('checkNow (a drain) checks at once and ends the backlog; forget drops a closed session', () => {
    vi.useFakeTimers();
    const { checks, buffered, checked } = setup({});
    buffered.set('a', 10);
    checks.checkNow('a');
    expect(checked).toEqual(['a']);
    expect(checks.backlogSize).toBe(1);
    buffered.set('a', 0);
    checks.checkNow('a');
    expect(checks.backlogSize).toBe(0);
    buffered.set('b', 10);
    checks.sessionWritten('b');
    checks.forget('b');
    vi.advanceTimersByTime(100);
    expect(checked).toEqual(['a', 'a']);
    checks.close();
  });
});
