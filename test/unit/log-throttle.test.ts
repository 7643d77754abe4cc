import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { LogThrottle } from '../../src/shared/log-throttle.js';
import type { Logger } from '../../src/shared/logger.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

it('logs the first failure of a kind at once and the rest as one line per window', async () => {
  const lines: [Record<string, unknown>, string][] = [];
  const logger = { error: (fields: Record<string, unknown>, msg: string) => lines.push([fields, msg]) } as unknown as Logger;
  const throttle = new LogThrottle(logger, 1_000);
  for (let i = 0; i < 50; i++) throttle.error('queue/send', { i }, 'request failed');
  throttle.error('redis/join', { i: 0 }, 'request failed');
  expect(lines).toEqual([
    [{ i: 0 }, 'request failed'],
    [{ i: 0 }, 'request failed'],
  ]);
  await vi.advanceTimersByTimeAsync(1_000);
  expect(lines[2]).toEqual([{ i: 49, repeated: 49, withinMs: 1_000 }, 'request failed (repeated)']);
  expect(lines).toHaveLength(3);
  // A new window starts with the next failure.
  throttle.error('queue/send', { i: 50 }, 'request failed');
  expect(lines).toHaveLength(4);
});
