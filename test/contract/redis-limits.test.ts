// The Redis limit adapters against their contracts, plus what only a cluster of processes
// shows: slots counted across processes, and a dead process's slots freed by the others.
import { describe, expect, it } from 'vitest';
import { RedisAddressSlots } from '../../src/rooms/state/redis-address-slots.js';
import { RedisRateLimiter } from '../../src/rooms/state/redis-rate-limiter.js';
import { addressSlotsContract, rateLimiterContract } from './limits.contract.js';
import { contractRedis } from './redis-support.js';
import { until } from './room-state.contract.js';

const opened: RedisAddressSlots[] = [];
/** Failures of the slots' heartbeat timers: none is expected. */
const timerErrors: unknown[] = [];
const { raw, client, newPrefix } = contractRedis(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  expect(timerErrors.splice(0)).toEqual([]);
});

async function slotsOn(prefix: string, nodeId: string, nodeTtlS = 30): Promise<RedisAddressSlots> {
  const slots = new RedisAddressSlots(client(), { prefix, nodeId, nodeTtlS, onError: (err) => timerErrors.push(err) });
  await slots.start();
  opened.push(slots);
  return slots;
}

rateLimiterContract('redis', () => Promise.resolve(new RedisRateLimiter(client(), newPrefix('rate'))));

addressSlotsContract('redis', () => slotsOn(newPrefix('slots'), 'node-a'));

describe('redis: limits across processes', () => {
  it('two limiters on one prefix share each counter', async () => {
    const prefix = newPrefix('rate2');
    const [a, b] = [new RedisRateLimiter(client(), prefix), new RedisRateLimiter(client(), prefix)];
    const verdicts = [await a.take('u:x', 2, 60_000), await b.take('u:x', 2, 60_000), await a.take('u:x', 2, 60_000)];
    expect(verdicts.map((v) => v.ok)).toEqual([true, true, false]);
  });

  it('slots are counted across processes, and a process closing frees its own', async () => {
    const prefix = newPrefix('slots2');
    const a = await slotsOn(prefix, 'a');
    const b = await slotsOn(prefix, 'b');
    expect(await a.acquire('1.1.1.1', 'a1', 3)).toBe(true);
    expect(await b.acquire('1.1.1.1', 'b1', 3)).toBe(true);
    expect(await b.acquire('1.1.1.1', 'b2', 3)).toBe(true);
    expect(await a.acquire('1.1.1.1', 'a2', 3)).toBe(false);
    await b.close();
    expect(await a.acquire('1.1.1.1', 'a3', 3)).toBe(true);
    expect(await a.acquire('1.1.1.1', 'a4', 3)).toBe(true);
    expect(await a.acquire('1.1.1.1', 'a5', 3)).toBe(false);
  });

  it("a process that stops heartbeating has its slots freed by another once its heartbeat expired", async () => {
    const prefix = newPrefix('slots3');
    const dead = await slotsOn(prefix, 'dead', 1);
    const live = await slotsOn(prefix, 'live', 1);
    expect(await dead.acquire('2.2.2.2', 'd1', 2)).toBe(true);
    expect(await dead.acquire('2.2.2.2', 'd2', 2)).toBe(true);
    dead.stopHeartbeat();
    expect(await live.acquire('2.2.2.2', 'l0', 2)).toBe(false);
    await until(() => live.acquire('2.2.2.2', `l${Date.now()}`, 2), 5_000, "the dead process's slots to be freed");
    expect(await raw().smembers(`{${prefix}}:caowners`)).not.toContain(expect.stringMatching(/^dead~/));
  });
});
