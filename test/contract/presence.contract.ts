// The Presence contract (src/rooms/state/presence.ts), run against every adapter.
import { afterEach, describe, expect, it } from 'vitest';
import type { Presence } from '../../src/rooms/state/presence.js';
import type { Member } from '../../src/domain/presence.js';

/** A started Presence on storage no other test sees. */
export type PresenceFactory = () => Promise<Presence>;

const T0 = Date.UTC(2024, 0, 1);

/** Every page of a room's roster, following `next` until null. */
export async function allMembers(presence: Presence, room: string, limit: number): Promise<{ members: Member[]; pages: number }> {
  const members: Member[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await presence.members(room, cursor, limit);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    members.push(...page.items);
    pages++;
    cursor = page.next ?? undefined;
  } while (cursor !== undefined && pages < 10_000);
  return { members, pages };
}

export function presenceContract(name: string, factory: PresenceFactory): void {
  describe(`${name}: Presence contract`, () => {
    const made: Presence[] = [];
    const make = async (): Promise<Presence> => {
      const presence = await factory();
      made.push(presence);
      return presence;
    };
    afterEach(async () => {
      await Promise.all(made.splice(0).map((p) => p.close()));
    });

    it('join is first only for a user not yet online in the room', async () => {
      const p = await make();
      expect(await p.join('r', 'alice', 'a1', T0)).toEqual({ first: true });
      expect(await p.join('r', 'alice', 'a2', T0 + 1)).toEqual({ first: false });
      expect(await p.join('r', 'alice', 'a1', T0 + 2)).toEqual({ first: false });
      expect(await p.join('r', 'bob', 'b1', T0 + 3)).toEqual({ first: true });
      expect(await p.join('other', 'alice', 'a1', T0 + 4)).toEqual({ first: true });
      expect(await p.occupancy('r')).toBe(2);
    });

    it("leave is last only for the user's last connection in the room", async () => {
      const p = await make();
      await p.join('r', 'alice', 'a1', T0);
      await p.join('r', 'alice', 'a2', T0);
      expect(await p.leave('r', 'alice', 'a1', T0)).toEqual({ last: false });
      expect(await p.leave('r', 'alice', 'a1', T0)).toEqual({ last: false });
      expect(await p.leave('r', 'alice', 'zz', T0)).toEqual({ last: false });
      expect(await p.leave('nowhere', 'alice', 'a2', T0)).toEqual({ last: false });
      expect(await p.leave('r', 'alice', 'a2', T0)).toEqual({ last: true });
      expect(await p.leave('r', 'alice', 'a2', T0)).toEqual({ last: false });
    });

    it('inside the grace period a user still counts, keeps since, and rejoining is not first', async () => {
      const p = await make();
      await p.join('r', 'alice', 'a1', T0);
      await p.join('r', 'bob', 'b1', T0 + 500);
      await p.leave('r', 'alice', 'a1', T0 + 1000);
      expect(await p.occupancy('r')).toBe(2);
      expect((await p.members('r', undefined, 10)).items).toContainEqual({ user: 'alice', devices: 0, since: new Date(T0).toISOString() });
      expect(await p.join('r', 'alice', 'a2', T0 + 2000)).toEqual({ first: false });
      expect(await p.expire('r', 'alice')).toBe(false);
      expect((await p.members('r', undefined, 10)).items).toContainEqual({ user: 'alice', devices: 1, since: new Date(T0).toISOString() });
      expect(await p.occupancy('r')).toBe(2);
    });

    it('expire removes a user with no connection left, once', async () => {
      const p = await make();
      await p.join('r', 'alice', 'a1', T0);
      await p.join('r', 'bob', 'b1', T0);
      expect(await p.expire('r', 'alice')).toBe(false);
      await p.leave('r', 'alice', 'a1', T0);
      expect(await p.expire('r', 'alice')).toBe(true);
      expect(await p.expire('r', 'alice')).toBe(false);
      expect(await p.expire('r', 'carol')).toBe(false);
      expect(await p.occupancy('r')).toBe(1);
      expect((await p.members('r', undefined, 10)).items.map((m) => m.user)).toEqual(['bob']);
      expect(await p.join('r', 'alice', 'a1', T0 + 9000)).toEqual({ first: true });
      expect((await p.members('r', undefined, 10)).items).toContainEqual({ user: 'alice', devices: 1, since: new Date(T0 + 9000).toISOString() });
    });

    it('occupancy counts users, not connections, until the last one expires', async () => {
      const p = await make();
      expect(await p.occupancy('r')).toBe(0);
      await p.join('r', 'alice', 'a1', T0);
      await p.join('r', 'alice', 'a2', T0);
      await p.join('r', 'bob', 'b1', T0);
      expect(await p.occupancy('r')).toBe(2);
      await p.leave('r', 'alice', 'a1', T0);
      await p.leave('r', 'alice', 'a2', T0);
      await p.leave('r', 'bob', 'b1', T0);
      expect(await p.occupancy('r')).toBe(2);
      await p.expire('r', 'alice');
      await p.expire('r', 'bob');
      expect(await p.occupancy('r')).toBe(0);
    });

    it('members lists devices and since, and its pages return every member exactly once', async () => {
      const p = await make();
      const users = ['u-g', 'u-a', 'u-e', 'u-c', 'u-b', 'u-f', 'u-d'];
      for (const [i, user] of users.entries()) await p.join('r', user, `${user}-1`, T0 + i);
      await p.join('r', 'u-c', 'u-c-2', T0 + 100);
      const first = await p.members('r', undefined, 3);
      expect(first.items).toHaveLength(3);
      expect(first.next).toEqual(expect.any(String));
      const { members, pages } = await allMembers(p, 'r', 3);
      expect(pages).toBe(3);
      expect(members.map((m) => m.user).sort()).toEqual([...users].sort());
      expect(members.find((m) => m.user === 'u-c')).toEqual({ user: 'u-c', devices: 2, since: new Date(T0 + 3).toISOString() });
      expect(members.find((m) => m.user === 'u-g')).toEqual({ user: 'u-g', devices: 1, since: new Date(T0).toISOString() });
      const exact = await p.members('r', undefined, 7);
      expect([exact.items.length, exact.next]).toEqual([7, null]);
      expect(await p.members('empty', undefined, 5)).toEqual({ items: [], next: null });
    });

    it('pages 1,000 members by 100 without losing or repeating one', async () => {
      const p = await make();
      const users = Array.from({ length: 1000 }, (_, i) => `user-${(i * 7919) % 1000}`);
      for (let i = 0; i < users.length; i += 100) {
        await Promise.all(users.slice(i, i + 100).map((u) => p.join('big', u, `${u}-conn`, T0)));
      }
      expect(await p.occupancy('big')).toBe(1000);
      const { members, pages } = await allMembers(p, 'big', 100);
      expect(pages).toBe(10);
      const names = members.map((m) => m.user);
      expect(new Set(names).size).toBe(1000);
      expect(names.sort()).toEqual([...users].sort());
    });

    it('user() answers devices and the rooms where the user has a connection', async () => {
      const p = await make();
      expect(await p.registerConnection('alice', 'a1', 5)).toBe(true);
      expect(await p.registerConnection('alice', 'a2', 5)).toBe(true);
      await p.join('r1', 'alice', 'a1', T0);
      await p.join('r2', 'alice', 'a2', T0);
      await p.join('r3', 'alice', 'a2', T0);
      await p.leave('r2', 'alice', 'a2', T0);
      const u = await p.user('alice');
      expect({ ...u, rooms: [...u.rooms].sort() }).toEqual({ user: 'alice', online: true, devices: 2, rooms: ['r1', 'r3'] });
      await p.unregisterConnection('alice', 'a1');
      expect((await p.user('alice')).devices).toBe(1);
      expect(await p.user('nobody')).toEqual({ user: 'nobody', online: false, devices: 0, rooms: [] });
    });

    it('registerConnection enforces the cap, counts a connection once, and frees a slot on unregister', async () => {
      const p = await make();
      expect(await p.registerConnection('alice', 'a1', 2)).toBe(true);
      expect(await p.registerConnection('alice', 'a2', 2)).toBe(true);
      expect(await p.registerConnection('alice', 'a3', 2)).toBe(false);
      expect(await p.registerConnection('alice', 'a1', 2)).toBe(true);
      expect(await p.registerConnection('bob', 'b1', 2)).toBe(true);
      expect((await p.user('alice')).devices).toBe(2);
      await p.unregisterConnection('alice', 'a2');
      await p.unregisterConnection('alice', 'a2');
      expect(await p.registerConnection('alice', 'a3', 2)).toBe(true);
      expect((await p.stats()).connections).toBe(3);
    });

    it('stats counts connections, rooms with someone online, and this node', async () => {
      const p = await make();
      expect(await p.stats()).toEqual({ connections: 0, rooms: 0, nodes: 1 });
      await p.registerConnection('alice', 'a1', 5);
      await p.registerConnection('bob', 'b1', 5);
      await p.join('r1', 'alice', 'a1', T0);
      await p.join('r2', 'bob', 'b1', T0);
      expect(await p.stats()).toEqual({ connections: 2, rooms: 2, nodes: 1 });
      await p.leave('r2', 'bob', 'b1', T0);
      expect((await p.stats()).rooms).toBe(2);
      await p.expire('r2', 'bob');
      await p.unregisterConnection('bob', 'b1');
      expect(await p.stats()).toEqual({ connections: 1, rooms: 1, nodes: 1 });
    });

    it('counts() follows users and their connections through join, leave, grace and expire', async () => {
      const p = await make();
      expect(await p.counts('r')).toEqual({ users: 0, devices: 0 });
      await p.join('r', 'alice', 'a1', T0);
      await p.join('r', 'alice', 'a2', T0);
      await p.join('r', 'alice', 'a2', T0);
      await p.join('r', 'bob', 'b1', T0);
      await p.join('other', 'alice', 'a1', T0);
      expect(await p.counts('r')).toEqual({ users: 2, devices: 3 });
      expect(await p.counts('other')).toEqual({ users: 1, devices: 1 });
      await p.leave('r', 'alice', 'a1', T0);
      await p.leave('r', 'alice', 'a1', T0);
      await p.leave('r', 'alice', 'unknown', T0);
      expect(await p.counts('r')).toEqual({ users: 2, devices: 2 });
      // In the grace period: still a user, with no connection.
      await p.leave('r', 'bob', 'b1', T0);
      expect(await p.counts('r')).toEqual({ users: 2, devices: 1 });
      await p.join('r', 'bob', 'b2', T0);
      expect(await p.counts('r')).toEqual({ users: 2, devices: 2 });
      await p.leave('r', 'bob', 'b2', T0);
      await p.expire('r', 'bob');
      expect(await p.counts('r')).toEqual({ users: 1, devices: 1 });
      await p.leave('r', 'alice', 'a2', T0);
      await p.expire('r', 'alice');
      expect(await p.counts('r')).toEqual({ users: 0, devices: 0 });
      expect(await p.counts('other')).toEqual({ users: 1, devices: 1 });
    });

    it('counts() agrees with occupancy() and the roster of a big room', async () => {
      const p = await make();
      const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
      await Promise.all(users.map((u) => p.join('big', u, `${u}-1`, T0)));
      await Promise.all(users.filter((_, i) => i % 3 === 0).map((u) => p.join('big', u, `${u}-2`, T0)));
      await Promise.all(users.filter((_, i) => i % 5 === 0).map((u) => p.leave('big', u, `${u}-1`, T0)));
      const counts = await p.counts('big');
      const { members } = await allMembers(p, 'big', 500);
      expect(counts).toEqual({ users: await p.occupancy('big'), devices: members.reduce((n, m) => n + m.devices, 0) });
      expect(counts).toEqual({ users: 300, devices: 300 + 100 - 60 });
    });

    it('rooms() pages the rooms with someone online, with their occupancy', async () => {
      const p = await make();
      await p.join('room-b', 'alice', 'a1', T0);
      await p.join('room-b', 'bob', 'b1', T0);
      await p.join('room-a', 'alice', 'a1', T0);
      await p.join('room-c', 'carol', 'c1', T0);
      const seen: { room: string; occupancy: number }[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await p.rooms(cursor, 2);
        seen.push(...page.items);
        cursor = page.next ?? undefined;
        pages++;
      } while (cursor !== undefined && pages < 10);
      expect(pages).toBe(2);
      expect(seen.sort((x, y) => x.room.localeCompare(y.room))).toEqual([
        { room: 'room-a', occupancy: 1 },
        { room: 'room-b', occupancy: 2 },
        { room: 'room-c', occupancy: 1 },
      ]);
    });
  });
}
