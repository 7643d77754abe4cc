import type { RateLimiter, WindowVerdict } from './rate-limiter.js';
import { asArray, asNumber, defineScript, hashTag, type RedisScripting, type ScriptCall } from './redis-scripts.js';

/**
 * KEYS: the counter. ARGV: window ms. Counts one event; returns {count, ms left in the window}.
 * The window starts with the first event (PEXPIRE), so a key never outlives its window.
 */
const TAKE_LUA = `
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if n == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {n, left}
`;

/** RateLimiter in Redis: one key per counter (`{prefix:rl:<key>}`), one script call per event. */
export class RedisRateLimiter implements RateLimiter {
  private readonly script: ScriptCall;

  constructor(
    client: RedisScripting,
    private readonly prefix: string,
  ) {
    if (/[{}]/.test(prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.script = defineScript(client, 'parleyRateTake', 1, TAKE_LUA);
  }

  async take(key: string, limit: number, windowMs: number): Promise<WindowVerdict> {
    const reply = asArray(await this.script(hashTag(this.prefix, `rl:${key}`), windowMs), 'rate take');
    return { ok: asNumber(reply[0], 'rate take') <= limit, retryAfterMs: asNumber(reply[1], 'rate take') };
  }
}
