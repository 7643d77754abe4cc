import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Broadcast } from '../../src/bus/broadcast.js';
import type { ControlEvent, RoomEvent } from '../../src/domain/events.js';

type Received = { room: string; event: RoomEvent };

function listen(bus: Broadcast): { rooms: Received[]; control: ControlEvent[]; next: (n: number, timeoutMs?: number) => Promise<Received[]> } {
  const rooms: Received[] = [];
  const control: ControlEvent[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  bus.onRoomEvent((room, event) => {
    rooms.push({ room, event });
    for (const w of [...waiters]) if (rooms.length >= w.n) w.resolve();
  });
  bus.onControl((event) => control.push(event));
  return {
    rooms,
    control,
    next: (n, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        if (rooms.length >= n) return resolve(rooms.slice(0, n));
        const timer = setTimeout(() => reject(new Error(`got ${rooms.length} of ${n} events`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve(rooms.slice(0, n))) });
      }),
  };
}

const typing = (user: string, i: number): RoomEvent => ({ kind: 'read', user, seq: i });

/** What every Broadcast must do, embedded or clustered. */
export function broadcastContract(name: string, make: (nodeId: string) => Promise<Broadcast>, opts: { cluster: boolean }): void {
  describe(`Broadcast contract: ${name}`, () => {
    const opened: Broadcast[] = [];
    const node = async (id: string) => {
      const bus = await make(id);
      await bus.start();
      opened.push(bus);
      return bus;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    it('delivers a subscribed room’s events to this node’s listener once, in order', async () => {
      const a = await node('a');
      const got = listen(a);
      await a.subscribe('r1');
      for (let i = 1; i <= 20; i++) await a.publish('r1', typing('u', i));
      expect(got.rooms.map((r) => (r.event as { seq: number }).seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it('does not deliver rooms this node is not subscribed to', async () => {
      const a = await node('a');
      const got = listen(a);
      await a.subscribe('r1');
      await a.publish('r2', typing('u', 1));
      await a.unsubscribe('r1');
      await a.publish('r1', typing('u', 2));
      expect(got.rooms).toEqual([]);
    });

    it('delivers control events to this node', async () => {
      const a = await node('a');
      const got = listen(a);
      await a.publishControl({ kind: 'disconnect', user: 'u', code: 4003, reason: 'x' });
      expect(got.control).toEqual([{ kind: 'disconnect', user: 'u', code: 4003, reason: 'x' }]);
    });

    if (!opts.cluster) return;

    it('fans out to another node in publish order, without echoing to the publisher', async () => {
      const a = await node('a');
      const b = await node('b');
      const gotA = listen(a);
      const gotB = listen(b);
      await a.subscribe('room.with.dots');
      await b.subscribe('room.with.dots');
      const sends = Array.from({ length: 200 }, (_, i) => a.publish('room.with.dots', typing('u', i + 1)));
      await Promise.all(sends);
      const seen = await gotB.next(200);
      expect(seen.map((r) => (r.event as { seq: number }).seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(seen.every((r) => r.room === 'room.with.dots')).toBe(true);
      // A barrier on a second room: once it arrives at A from B, any echo of A's own events would have too.
      await a.subscribe('barrier');
      await b.publish('barrier', typing('b', 1));
      await gotA.next(201);
      expect(gotA.rooms.length).toBe(201);
    });

    it('stops delivering to a node after it unsubscribes', async () => {
      const a = await node('a');
      const b = await node('b');
      const gotB = listen(b);
      await b.subscribe('gone');
      await b.subscribe('kept');
      await b.unsubscribe('gone');
      await a.publish('gone', typing('u', 1));
      await a.publish('kept', typing('u', 2));
      const seen = await gotB.next(1);
      expect(seen[0]?.room).toBe('kept');
      expect(gotB.rooms.length).toBe(1);
    });

    it('carries control events to every other node', async () => {
      const a = await node('a');
      const b = await node('b');
      const gotB = listen(b);
      await a.publishControl({ kind: 'disconnect', user: 'x', code: 4000, reason: 'r' });
      await vi.waitFor(() => expect(gotB.control).toEqual([{ kind: 'disconnect', user: 'x', code: 4000, reason: 'r' }]), { timeout: 5000 });
    });

    it('still carries control events after the node unsubscribed its last room', async () => {
      const a = await node('a');
      const b = await node('b');
      const gotB = listen(b);
      await b.subscribe('only-room');
      await b.unsubscribe('only-room');
      await a.publishControl({ kind: 'disconnect', user: 'y', code: 4001, reason: 'after' });
      await vi.waitFor(() => expect(gotB.control).toEqual([{ kind: 'disconnect', user: 'y', code: 4001, reason: 'after' }]), { timeout: 5000 });
      await b.subscribe('again');
      await a.publish('again', typing('u', 7));
      expect(await gotB.next(1)).toEqual([{ room: 'again', event: typing('u', 7) }]);
    });

    it('coalesces one turn’s events of a room into one bus message', async () => {
      const a = await node('a');
      const b = await node('b');
      const gotB = listen(b);
      await b.subscribe('burst');
      const raw = vi.spyOn(a as unknown as { publishRaw: (c: string, d: string) => Promise<void> }, 'publishRaw');
      await Promise.all(Array.from({ length: 50 }, (_, i) => a.publish('burst', typing('u', i))));
      expect(raw).toHaveBeenCalledTimes(1);
      await gotB.next(50);
    });
  });
}
