import type { LocalConnections } from '../rooms/state/presence.js';
import type { Session } from './session.js';

const NONE: ReadonlySet<Session> = new Set();

/**
 * This node's live sessions, by id, by user and by room (admin disconnects, room resets,
 * slow-consumer checks, draining). Presence reads it as the truth about this node's
 * connections (`LocalConnections`): a session is listed from open until closed, each with the
 * rooms it joined or is joining. The room index follows `Session.joined` through
 * `roomJoined`/`roomLeft`, and only while the session is registered.
 */
export class SessionRegistry implements LocalConnections {
  private readonly byId = new Map<string, Session>();
  /** A user's one session itself, or a set once they have several: most users have one per node. */
  private readonly byUser = new Map<string, Session | Set<Session>>();
  private readonly byRoom = new Map<string, Set<Session>>();
  /** Sessions currently past SLOW_BYTES: their typing/presence pushes are skipped. */
  readonly slow = new Set<Session>();
  /** Entries of the room index: the sum of the sessions' `joined` sizes. */
  private joins = 0;

  get size(): number {
    return this.byId.size;
  }

  add(session: Session): void {
    this.byId.set(session.connId, session);
    this.addUser(session);
    for (const room of session.joined.keys()) if (addTo(this.byRoom, room, session)) this.joins++;
  }

  remove(session: Session): void {
    if (this.byId.get(session.connId) !== session) return;
    this.byId.delete(session.connId);
    this.slow.delete(session);
    this.removeUser(session);
    for (const room of session.joined.keys()) if (removeFrom(this.byRoom, room, session)) this.joins--;
  }

  /** The session started joining `room` (it is listed as a member from now on). */
  roomJoined(session: Session, room: string): void {
    if (this.byId.get(session.connId) === session && addTo(this.byRoom, room, session)) this.joins++;
  }

  /** The session left `room`, or its join failed. */
  roomLeft(session: Session, room: string): void {
    if (removeFrom(this.byRoom, room, session)) this.joins--;
  }

  get(connId: string): Session | undefined {
    return this.byId.get(connId);
  }

  has(connId: string): boolean {
    return this.byId.has(connId);
  }

  forUser(user: string): Session[] {
    const entry = this.byUser.get(user);
    if (entry === undefined) return [];
    return entry instanceof Set ? [...entry] : [entry];
  }

  private addUser(session: Session): void {
    const entry = this.byUser.get(session.user);
    if (entry === undefined) this.byUser.set(session.user, session);
    else if (entry instanceof Set) entry.add(session);
    else if (entry !== session) this.byUser.set(session.user, new Set([entry, session]));
  }

  private removeUser(session: Session): void {
    const entry = this.byUser.get(session.user);
    if (entry === session) this.byUser.delete(session.user);
    else if (entry instanceof Set && entry.delete(session)) {
      if (entry.size === 1) this.byUser.set(session.user, entry.values().next().value as Session);
    }
  }

  /** This node's sessions joined to (or joining) `room`. A live view: copy it before closing sessions. */
  inRoom(room: string): ReadonlySet<Session> {
    return this.byRoom.get(room) ?? NONE;
  }

  /** Rooms with at least one session of this node. */
  get roomCount(): number {
    return this.byRoom.size;
  }

  /** What `all()` holds, counted as it changes: sessions, and their rooms summed. */
  counts(): { conns: number; joins: number } {
    return { conns: this.byId.size, joins: this.joins };
  }

  all(): IterableIterator<Session> {
    return this.byId.values();
  }

  /** Slow sessions joined to `room`: the number of typing/presence pushes they miss per publish. */
  slowIn(room: string): number {
    if (this.slow.size === 0) return 0;
    const members = this.inRoom(room);
    let n = 0;
    if (this.slow.size <= members.size) {
      for (const s of this.slow) if (members.has(s)) n++;
    } else {
      for (const s of members) if (s.slow) n++;
    }
    return n;
  }
}

/** True when the session was not in the key's set yet. */
function addTo<K>(index: Map<K, Set<Session>>, key: K, session: Session): boolean {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  const before = set.size;
  set.add(session);
  return set.size > before;
}

/** True when the session was in the key's set. */
function removeFrom<K>(index: Map<K, Set<Session>>, key: K, session: Session): boolean {
  const set = index.get(key);
  if (!set?.delete(session)) return false;
  if (set.size === 0) index.delete(key);
  return true;
}
