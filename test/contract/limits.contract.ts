// The RateLimiter and AddressSlots contracts (src/rooms/state/rate-limiter.ts, address-slots.ts), run against every adapter.
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressSlots } from '../../src/rooms/state/address-slots.js';
import type { RateLimiter } from '../../src/rooms/state/rate-limiter.js';
import { until } from './room-state.contract.js';

export function rateLimiterContract(name: string, factory: () => Promise<RateLimiter>): void {
  describe(`${name}: RateLimiter contract`, () => {
    it('accepts `limit` events per window, refuses the rest with the time left, per key', async () => {
      const limiter = await factory();
      const verdicts = [];
      for (let i = 0; i < 5; i++) verdicts.push(await limiter.take('u:alice', 3, 60_000));
      expect(verdicts.map((v) => v.ok)).toEqual([true, true, true, false, false]);
      for (const v of verdicts) {
        expect(v.retryAfterMs).toBeGreaterThan(50_000);
        expect(v.retryAfterMs).toBeLessThanOrEqual(60_000);
      }
      expect((await limiter.take('u:bob', 3, 60_000)).ok).toBe(true);
      expect((await limiter.take('u:alice', 3, 60_000)).ok).toBe(false);
    });

    it('starts counting again once the window is over', async () => {
      const limiter = await factory();
      expect((await limiter.take('h:1.2.3.4', 1, 300)).ok).toBe(true);
      expect((await limiter.take('h:1.2.3.4', 1, 300)).ok).toBe(false);
      await until(async () => (await limiter.take('h:1.2.3.4', 1, 300)).ok, 5_000, 'the 300 ms window to end');
    });
  });
}

export function addressSlotsContract(name: string, factory: () => Promise<AddressSlots>): void {
  describe(`${name}: AddressSlots contract`, () => {
    const made: AddressSlots[] = [];
    const make = async () => {
      const slots = await factory();
      made.push(slots);
      return slots;
    };
    afterEach(async () => {
      await Promise.all(made.splice(0).map((s) => s.close()));
    });

    it('takes at most `max` slots per address; a release frees one, once', async () => {
      const slots = await make();
      expect(await slots.acquire('10.0.0.1', 'c1', 2)).toBe(true);
      expect(await slots.acquire('10.0.0.1', 'c2', 2)).toBe(true);
      expect(await slots.acquire('10.0.0.1', 'c3', 2)).toBe(false);
      expect(await slots.acquire('10.0.0.2', 'c4', 2)).toBe(true);
      await slots.release('c1');
      await slots.release('c1');
      await slots.release('c3');
      await slots.release('never-taken');
      expect(await slots.acquire('10.0.0.1', 'c5', 2)).toBe(true);
      expect(await slots.acquire('10.0.0.1', 'c6', 2)).toBe(false);
    });

    it('concurrent acquires never take more than `max`', async () => {
      const slots = await make();
      const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => slots.acquire('::1', `k${i}`, 7)));
      expect(taken.filter(Boolean)).toHaveLength(7);
      await Promise.all(Array.from({ length: 20 }, (_, i) => slots.release(`k${i}`)));
      expect(await slots.acquire('::1', 'again', 1)).toBe(true);
    });
  });
}
