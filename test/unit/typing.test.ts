import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Typing } from '../../src/rooms/typing.js';
import type { RoomEvent } from '../../src/domain/events.js';

const TTL = 6000;
const THROTTLE = 1000;

type TypingEvent = Extract<RoomEvent, { kind: 'typing' }>;

function typing(throttleMs = THROTTLE) {
  const pushes: (TypingEvent & { room: string; at: number })[] = [];
  const errors: string[] = [];
  let failing = false;
  const t = new Typing(
    { ttlMs: TTL, throttleMs },
    {
      publish: (room, event) => {
        if (failing) return Promise.reject(new Error('bus down'));
        pushes.push({ room, ...event, at: Date.now() });
        return Promise.resolve();
      },
      onError: (_err, room, user) => errors.push(`${room}/${user}`),
    },
  );
  const ons = () => pushes.map((p) => `${p.user}:${p.on ? 'on' : 'off'}`);
  return { t, pushes, ons, errors, fail: (on: boolean) => (failing = on) };
}

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

describe('Typing throttle', () => {
  it('pushes the first on, then at most one on per window however many requests come', async () => {
    const { t, pushes } = typing();
    for (let ms = 0; ms < 2500; ms += 100) {
      await t.set('r', 'a', 'c1', true);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(pushes.map((p) => [p.on, p.at])).toEqual([
      [true, 0],
      [true, 1000],
      [true, 2000],
    ]);
    expect(pushes.every((p) => p.origin === 'c1')).toBe(true);
  });

  it('an off goes out at once when the last push said on, and not at all otherwise', async () => {
    const { t, ons } = typing();
    await t.set('r', 'a', 'c1', false);
    expect(ons()).toEqual([]);
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', false);
    await t.set('r', 'a', 'c1', false);
    expect(ons()).toEqual(['a:on', 'a:off']);
  });

  it('on, off, on within a window: the second on goes out when the window ends, if still on', async () => {
    const { t, pushes } = typing();
    await t.set('r', 'a', 'c1', true);
    await vi.advanceTimersByTimeAsync(200);
    await t.set('r', 'a', 'c1', false);
    await vi.advanceTimersByTimeAsync(200);
    await t.set('r', 'a', 'c2', true);
    expect(pushes.map((p) => p.on)).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(599);
    expect(pushes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(pushes.map((p) => [p.on, p.at, p.origin])).toEqual([
      [true, 0, 'c1'],
      [false, 200, 'c1'],
      [true, 1000, 'c2'],
    ]);
  });

  it('on, off, on, off within a window: nothing more after the first off', async () => {
    const { t, ons } = typing();
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', false);
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', false);
    await vi.advanceTimersByTimeAsync(3 * THROTTLE);
    expect(ons()).toEqual(['a:on', 'a:off']);
  });

  it('the TTL ends typing with one off, counted from the last on request (pushed or not)', async () => {
    const { t, pushes } = typing();
    await t.set('r', 'a', 'c1', true);
    await vi.advanceTimersByTimeAsync(500);
    await t.set('r', 'a', 'c1', true); // throttled, yet it renews the TTL
    await vi.advanceTimersByTimeAsync(TTL - 1);
    expect(pushes.map((p) => p.on)).toEqual([true]);
    await vi.advanceTimersByTimeAsync(1);
    expect(pushes.map((p) => [p.on, p.at, p.origin])).toEqual([
      [true, 0, 'c1'],
      [false, 500 + TTL, 'c1'],
    ]);
    await vi.advanceTimersByTimeAsync(2 * TTL);
    expect(pushes).toHaveLength(2);
  });

  it('end without an origin (the user left) pushes an off for every member, once', async () => {
    const { t, pushes } = typing();
    await t.set('r', 'a', 'c1', true);
    await t.end('r', 'a', undefined);
    await t.end('r', 'a', undefined);
    expect(pushes.map((p) => [p.on, p.origin])).toEqual([
      [true, 'c1'],
      [false, undefined],
    ]);
  });

  it('keeps users and rooms apart', async () => {
    const { t, pushes } = typing();
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'b', 'c2', true);
    await t.set('q', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', true);
    expect(pushes.map((p) => `${p.room}/${p.user}`)).toEqual(['r/a', 'r/b', 'q/a']);
  });

  it('with TYPING_THROTTLE_MS=0 every on request pushes', async () => {
    const { t, ons } = typing(0);
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', false);
    await t.set('r', 'a', 'c1', true);
    expect(ons()).toEqual(['a:on', 'a:on', 'a:off', 'a:on']);
  });

  it('a push made by a timer that fails is reported with its room and user', async () => {
    const { t, errors, fail } = typing();
    await t.set('r', 'b', 'c1', true);
    await t.set('r', 'b', 'c1', false);
    await t.set('r', 'b', 'c1', true);
    fail(true);
    await vi.advanceTimersByTimeAsync(THROTTLE);
    expect(errors).toEqual(['r/b']);
  });

  it('clear() stops every timer: no deferred on and no TTL off after it', async () => {
    const { t, pushes } = typing();
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'a', 'c1', false);
    await t.set('r', 'a', 'c1', true);
    await t.set('r', 'b', 'c2', true);
    t.clear();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2 * TTL);
    expect(pushes.map((p) => `${p.user}:${p.on}`)).toEqual(['a:true', 'a:false', 'b:true']);
  });
});
