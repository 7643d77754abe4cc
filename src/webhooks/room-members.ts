import type { Member, Page } from '../domain/presence.js';

/** The room's presence roster: users online in it or inside the grace period (Presence has it). */
export interface RosterSource {
  members(room: string, cursor: string | undefined, limit: number): Promise<Page<Member>>;
}

/** Users with a stored read pointer in the room (MongoMessageStore has it). */
export interface ReadersSource {
  readers(room: string): Promise<string[]>;
}

const PAGE = 500;

/**
 * Who of a room's members has no open connection in it: the signal of `message.missed`.
 *
 * Parley keeps no membership list, so a room's members are the users it knows in the room: its
 * presence roster (online, or inside PRESENCE_GRACE_S after their last connection left) and
 * every user who ever moved a read pointer in it (stored in MongoDB by the persist workers).
 * Roster entries with no device and readers not on the roster have no open connection.
 */
export class RoomMembers {
  constructor(
    private readonly roster: RosterSource,
    private readonly readers: ReadersSource,
  ) {}

  /** The room's members without a connection in it, sorted. */
  async offline(room: string): Promise<string[]> {
    const [roster, readers] = await Promise.all([this.rosterOf(room), this.readers.readers(room)]);
    const offline = new Set<string>();
    for (const [user, devices] of roster) if (devices === 0) offline.add(user);
    for (const user of readers) if (!roster.has(user)) offline.add(user);
    return [...offline].sort();
  }

  private async rosterOf(room: string): Promise<Map<string, number>> {
    const devices = new Map<string, number>();
    let cursor: string | undefined;
    do {
      const page = await this.roster.members(room, cursor, PAGE);
      for (const m of page.items) devices.set(m.user, m.devices);
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    return devices;
  }
}
