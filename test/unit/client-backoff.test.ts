import { describe, expect, it } from 'vitest';
import { ABUSE_MIN_ATTEMPT, backoffDelay, closeAction, DEFAULT_BACKOFF } from '../../packages/client/src/backoff.js';
import { refreshDelay } from '../../packages/client/src/token.js';

const fixed = (r: number) => ({ ...DEFAULT_BACKOFF, random: () => r });

describe('backoffDelay (full jitter, base 0.5 s, cap 30 s)', () => {
  it('is random(0, base * 2^attempt) below the cap', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, fixed(0.5)))).toEqual([250, 500, 1000, 2000, 4000, 8000]);
    expect(backoffDelay(3, fixed(0.25))).toBe(1000);
  });

  it('spans the whole window: 0 at random 0, just under the ceiling near 1', () => {
    expect(backoffDelay(0, fixed(0))).toBe(0);
    expect(backoffDelay(10, fixed(0))).toBe(0);
    expect(backoffDelay(0, fixed(0.999_999))).toBe(499);
    expect(backoffDelay(2, fixed(0.999_999))).toBe(1999);
  });

  it('never exceeds the cap, even for huge attempts', () => {
    expect(backoffDelay(6, fixed(0.999_999))).toBe(29_999); // 0.5 * 64 = 32 s > cap
    expect(backoffDelay(1_000, fixed(0.5))).toBe(15_000);
    expect(backoffDelay(1_000, { base: 100, cap: 1_000, random: () => 0.5 })).toBe(500);
  });

  it('draws one random number per delay', () => {
    const draws: number[] = [];
    const random = () => {
      draws.push(1);
      return 0.1;
    };
    backoffDelay(4, { ...DEFAULT_BACKOFF, random });
    expect(draws).toHaveLength(1);
  });
});

describe('closeAction (the close-code table of docs/protocol.md)', () => {
  it.each([
    [1000, 'stop'],
    [1009, 'stop'],
    [4003, 'stop'],
    [4400, 'stop'],
    [4001, 'token'],
    [1001, 'now'],
    [4008, 'abuse'],
    [4029, 'backoff'],
    [1006, 'backoff'],
    [4000, 'backoff'],
  ] as const)('close %i → %s', (code, action) => {
    expect(closeAction(code)).toBe(action);
  });

  it('treats an upgrade refused with HTTP 401 like 4001', () => {
    expect(closeAction(1006, true)).toBe('token');
  });

  it('starts a 4008 backoff at a window of at least 4 s', () => {
    expect(backoffDelay(ABUSE_MIN_ATTEMPT, fixed(0.5))).toBe(2000);
  });
});

describe('refreshDelay', () => {
  const now = 1_700_000_000_000;
  const exp = (inMs: number) => (now + inMs) / 1000;

  it('refreshes 30 s before exp when that is sooner than 80% of the lifetime', () => {
    expect(refreshDelay(exp(60_000), now)).toBe(30_000);
    expect(refreshDelay(exp(100_000), now)).toBe(70_000);
  });

  it('refreshes at 80% of the lifetime when that is sooner', () => {
    expect(refreshDelay(exp(600_000), now)).toBe(480_000);
    expect(refreshDelay(exp(3_600_000), now)).toBe(2_880_000);
  });

  it('never earlier than half the lifetime, so short tokens do not loop', () => {
    expect(refreshDelay(exp(20_000), now)).toBe(10_000);
    expect(refreshDelay(exp(40_000), now)).toBe(20_000);
  });

  it('is 0 for a token already expired', () => {
    expect(refreshDelay(exp(-1_000), now)).toBe(0);
  });
});
