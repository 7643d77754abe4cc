// Token deadlines by second (the 4001 of docs/protocol.md, "Token expiry and `auth`"): what is due is found
// without looking at what is not, a refreshed deadline moves, and the timer closes on time.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimer, ExpiryBuckets } from '../../src/gateway/expiry-buckets.js';

describe('ExpiryBuckets', () => {
  it('hands out an item once its deadline has passed, not before', () => {
    const b = new ExpiryBuckets<string>(10_000);
    b.add('a', 12_000);
    b.add('b', 13_000);
    expect(b.takeDue(11_999)).toEqual([]);
    expect(b.takeDue(12_000)).toEqual(['a']);
    expect(b.takeDue(12_999)).toEqual([]);
    expect(b.takeDue(13_000)).toEqual(['b']);
    expect(b.size).toBe(0);
  });

  it('adding an item again moves it; removing it forgets it', () => {
    const b = new ExpiryBuckets<string>(0);
    b.add('a', 5_000);
    b.add('b', 5_000);
    b.add('a', 9_000);
    b.remove('b');
    expect(b.size).toBe(1);
    expect(b.takeDue(8_999)).toEqual([]);
    expect(b.takeDue(9_000)).toEqual(['a']);
  });

  it('a deadline inside a second rounds up to the end of it (never early)', () => {
    const b = new ExpiryBuckets<string>(0);
    b.add('a', 4_200);
    expect(b.takeDue(4_999)).toEqual([]);
    expect(b.takeDue(5_000)).toEqual(['a']);
  });

  it('a deadline in a second already taken is due at the next take', () => {
    const b = new ExpiryBuckets<string>(0);
    expect(b.takeDue(7_000)).toEqual([]);
    b.add('late', 3_000);
    expect(b.takeDue(7_000)).toEqual([]);
    expect(b.takeDue(8_000)).toEqual(['late']);
  });

  it('after a long pause, everything overdue comes out at once and nothing else', () => {
    const b = new ExpiryBuckets<number>(0);
    for (let i = 1; i <= 5; i++) b.add(i, i * 1000);
    b.add(99, 10_000_000_000);
    expect(b.takeDue(1_000_000_000).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);
    expect(b.size).toBe(1);
  });
});

describe('DeadlineTimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires at the deadline, moves when refiled, and runs no timer once nothing is filed', () => {
    vi.useFakeTimers({ now: 1_000_000_500 });
    const due: [string, number][] = [];
    const timer = new DeadlineTimer<string>((item, now) => due.push([item, now]));
    const exp = 1_000_005_000;
    timer.file('expiring', exp);
    timer.file('refreshed', exp);
    vi.advanceTimersByTime(exp - 1 - Date.now());
    expect(due).toEqual([]);
    // `auth` with a fresh token before exp: the deadline moves 10 s on.
    timer.file('refreshed', exp + 10_000);
    vi.advanceTimersByTime(1);
    expect(due).toEqual([['expiring', exp]]);
    vi.advanceTimersByTime(10_000 - 1);
    expect(due).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(due).toEqual([
      ['expiring', exp],
      ['refreshed', exp + 10_000],
    ]);
    expect(timer.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    timer.close();
  });

  it('a dropped item (its connection closed) never fires', () => {
    vi.useFakeTimers({ now: 2_000_000_000 });
    const due: string[] = [];
    const timer = new DeadlineTimer<string>((item) => due.push(item));
    timer.file('closed', 2_000_003_000);
    timer.drop('closed');
    vi.advanceTimersByTime(10_000);
    expect(due).toEqual([]);
    timer.close();
  });
});
