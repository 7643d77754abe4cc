import type { Member, Page } from '../../domain/presence.js';
import { pageOf } from './cursor.js';
import type { OccupancyCounts, Presence, RoomOccupancy, UserPresence } from './presence.js';

interface RoomMember {
  conns: Set<string>;
  since: number;
}

/** Presence of embedded mode: one node, everything in this process. */
export class MemoryPresence implements Presence {
  private readonly users = new Map<string, Set<string>>();
  private readonly roomMembers = new Map<string, Map<string, RoomMember>>();
  /** Connections per room (the sum of its members' `conns`), kept so `counts` needs no walk. */
  private readonly roomDevices = new Map<string, number>();
  /** user -> rooms where they have a connection: `user()` reads it instead of walking every room. */
  private readonly userRooms = new Map<string, Set<string>>();
  private connections = 0;

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  registerConnection(user: string, connId: string, max: number): Promise<boolean> {
    let conns = this.users.get(user);
    if (!conns) {
      conns = new Set();
      this.users.set(user, conns);
    }
    if (conns.has(connId)) return Promise.resolve(true);
    if (conns.size >= max) {
      if (conns.size === 0) this.users.delete(user);
      return Promise.resolve(false);
    }
    conns.add(connId);
    this.connections++;
    return Promise.resolve(true);
  }

  unregisterConnection(user: string, connId: string): Promise<void> {
    const conns = this.users.get(user);
    if (conns?.delete(connId)) {
      this.connections--;
      if (conns.size === 0) this.users.delete(user);
    }
    return Promise.resolve();
  }

  join(room: string, user: string, connId: string, now: number): Promise<{ first: boolean }> {
    let members = this.roomMembers.get(room);
    if (!members) {
      members = new Map();
      this.roomMembers.set(room, members);
    }
    let rooms = this.userRooms.get(user);
    if (!rooms) {
      rooms = new Set();
      this.userRooms.set(user, rooms);
    }
    rooms.add(room);
    const member = members.get(user);
    if (member) {
      if (!member.conns.has(connId)) this.addDevices(room, 1);
      member.conns.add(connId);
      return Promise.resolve({ first: false });
    }
    members.set(user, { conns: new Set([connId]), since: now });
    this.addDevices(room, 1);
    return Promise.resolve({ first: true });
  }

  leave(room: string, user: string, connId: string): Promise<{ last: boolean }> {
    const member = this.roomMembers.get(room)?.get(user);
    if (!member || !member.conns.delete(connId)) return Promise.resolve({ last: false });
    this.addDevices(room, -1);
    const last = member.conns.size === 0;
    if (last) {
      const rooms = this.userRooms.get(user);
      if (rooms?.delete(room) && rooms.size === 0) this.userRooms.delete(user);
    }
    return Promise.resolve({ last });
  }

  expire(room: string, user: string): Promise<boolean> {
    const members = this.roomMembers.get(room);
    const member = members?.get(user);
    if (!members || !member || member.conns.size > 0) return Promise.resolve(false);
    members.delete(user);
    if (members.size === 0) this.roomMembers.delete(room);
    return Promise.resolve(true);
  }

  occupancy(room: string): Promise<number> {
    return Promise.resolve(this.roomMembers.get(room)?.size ?? 0);
  }

  counts(room: string): Promise<OccupancyCounts> {
    return Promise.resolve({ users: this.roomMembers.get(room)?.size ?? 0, devices: this.roomDevices.get(room) ?? 0 });
  }

  private addDevices(room: string, n: number): void {
    const devices = (this.roomDevices.get(room) ?? 0) + n;
    if (devices > 0) this.roomDevices.set(room, devices);
    else this.roomDevices.delete(room);
  }

  members(room: string, cursor: string | undefined, limit: number): Promise<Page<Member>> {
    const members = this.roomMembers.get(room) ?? new Map<string, RoomMember>();
    const page = pageOf(members.entries(), cursor, limit);
    return Promise.resolve({
      items: page.items.map(([user, m]) => ({ user, devices: m.conns.size, since: new Date(m.since).toISOString() })),
      next: page.next,
    });
  }

  rooms(cursor: string | undefined, limit: number): Promise<Page<RoomOccupancy>> {
    const page = pageOf(this.roomMembers.entries(), cursor, limit);
    return Promise.resolve({ items: page.items.map(([room, m]) => ({ room, occupancy: m.size })), next: page.next });
  }

  user(user: string): Promise<UserPresence> {
    const devices = this.users.get(user)?.size ?? 0;
    const rooms = [...(this.userRooms.get(user) ?? [])].sort();
    return Promise.resolve({ user, online: devices > 0, devices, rooms });
  }

  /** One node, in this process: there is never another node to reap. */
  onReaped(): void {}

  /** Nothing here can fail half-way or be lost while the process lives: nothing to restore. */
  onRestored(): void {}

  /** Every call completes in this process, so the entries always match the open connections. */
  trackLocal(): void {}

  stats(): Promise<{ connections: number; rooms: number; nodes: number }> {
    return Promise.resolve({ connections: this.connections, rooms: this.roomMembers.size, nodes: 1 });
  }
}
