import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../helpers/services-private.js';
import { FAULT_KINDS, planSchedule } from './faults.js';
import { fork, mulberry32 } from './random.js';

// The premises of the fault suite: a private Redis killed with -9 comes back with the copy of
// its last SAVE (what the "older snapshot" fault relies on), and a seed replays its schedule.

describe('fault suite premises', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('a private Redis killed after a SAVE restarts from that snapshot (same dir), not from what came later', async () => {
    expect(await redis.command('SET', 'before', '1')).toBe('+OK');
    expect(await redis.command('SAVE')).toBe('+OK');
    expect(await redis.command('SET', 'after', '1')).toBe('+OK');
    await redis.stop();
    await redis.start();
    expect(await redis.command('EXISTS', 'before')).toBe(':1');
    expect(await redis.command('EXISTS', 'after')).toBe(':0');
  });

  it('one seed, one schedule; another seed, another schedule', () => {
    const plan = (seed: number) => planSchedule(fork(seed, 'schedule'), 120_000);
    expect(plan(42)).toEqual(plan(42));
    expect(plan(42)).not.toEqual(plan(43));
    const steps = plan(42);
    expect(steps.reduce((ms, s) => ms + s.gapMs + s.holdMs, 0)).toBeLessThanOrEqual(120_000);
    expect(new Set(plan(7).concat(plan(8), plan(9)).map((s) => s.kind)).size).toBeGreaterThan(FAULT_KINDS.length / 2);
    const rng = mulberry32(1);
    expect([rng(), rng()]).toEqual([0.6270739405881613, 0.002735721180215478]);
  });
});
