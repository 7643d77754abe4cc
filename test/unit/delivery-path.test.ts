import { describe, expect, it } from 'vitest';
import { MemoryBroadcast } from '../../src/bus/memory-broadcast.js';
import type { DurableQueue } from '../../src/bus/durable-queue.js';
import { MemoryMessageStore } from '../../src/persistence/memory-store.js';
import { DeliveryPath, FINISH_AFTER_MS } from '../../src/rooms/delivery-path.js';
import { History } from '../../src/rooms/history.js';
import { MemoryRoomState } from '../../src/rooms/state/memory-room-state.js';
import type { ChatMessage } from '../../src/domain/messages.js';
import { createLogger } from '../../src/shared/logger.js';

/** A DeliveryPath over the embedded adapters, with a queue that records or refuses appends. */
function path() {
  const state = new MemoryRoomState(100);
  const store = new MemoryMessageStore(100);
  const queued: ChatMessage[] = [];
  let refusing = false;
  const queue: DurableQueue = {
    start: () => Promise.resolve(),
    close: () => Promise.resolve(),
    publishRead: () => Promise.resolve(),
    publish: (m) => (refusing ? Promise.reject(new Error('queue down')) : (queued.push(m), Promise.resolve())),
  };
  const bus = new MemoryBroadcast();
  const published: number[] = [];
  bus.onRoomEvent((_room, e) => {
    if (e.kind === 'msg') published.push(e.message.seq);
  });
  void bus.subscribe('r');
  const history = new History(state, store, { recoveryMax: 100, recoveryMaxBytes: 1 << 20, usersShown: 10 });
  const p = new DeliveryPath({ state, queue, bus, history, logger: createLogger('silent') });
  return { p, state, store, queued, published, refuse: (on: boolean) => (refusing = on) };
}

const input = (cid: string, ts = Date.now()) => ({ room: 'r', from: 'u', cid, body: cid, ts });

describe('DeliveryPath', () => {
  it('delivers only after the durable append and the commit', async () => {
    const t = path();
    const a = await t.state.append(input('a'), 60);
    t.refuse(true);
    await expect(t.p.finish(a.message, a.epoch, { retry: true })).rejects.toThrow('queue down');
    expect(t.published).toEqual([]);
    expect((await t.state.head('r')).head).toBe(0);
    t.refuse(false);
    await t.p.retryUnfinished();
    expect(t.queued.map((m) => m.seq)).toEqual([1]);
    expect(t.published).toEqual([1]);
    expect((await t.state.head('r')).head).toBe(1);
  });

  it('a heal finishes an old pending message and leaves a young one to its gateway', async () => {
    const t = path();
    const old = await t.state.append(input('old', Date.now() - 2 * FINISH_AFTER_MS), 60);
    await t.state.append(input('young'), 60);
    const healed = await t.p.fill('r', 1, 2, old.epoch);
    expect(healed.messages.map((m) => m.seq)).toEqual([1]);
    expect(healed.unsettled).toBe(true);
    expect(t.queued.map((m) => m.seq)).toEqual([1]);
    expect((await t.state.head('r')).head).toBe(1);
  });

  it('a heal never serves from the store a seq still pending in the room state', async () => {
    const t = path();
    const young = await t.state.append(input('young'), 60);
    const next = await t.state.append(input('next'), 60);
    await t.state.commit('r', next.epoch, [next.message]);
    // The store has the pending one already (durable, its commit not done yet): still not served.
    await t.store.put([young.message]);
    const healed = await t.p.fill('r', 1, 2, young.epoch);
    expect(healed.messages.map((m) => m.seq)).toEqual([2]);
    expect(healed.unsettled).toBe(true);
  });

  it('a pending message someone else committed is not appended again by a retry', async () => {
    const t = path();
    const a = await t.state.append(input('a'), 60);
    t.refuse(true);
    await expect(t.p.finish(a.message, a.epoch, { retry: true })).rejects.toThrow();
    t.refuse(false);
    await t.state.commit('r', a.epoch, [a.message]);
    await t.p.retryUnfinished();
    expect(t.queued).toEqual([]);
  });
});
