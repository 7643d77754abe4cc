import type { LocalConnections } from '../rooms/state/presence.js';
import type { Session } from './session.js';

/**
 * This node's live sessions, by id and by user (admin disconnects, sweeps, draining). Presence
 * reads it as the truth about this node's connections (`LocalConnections`): a session is listed
 * from open until closed, each with the rooms it joined or is joining.
 */
export class SessionRegistry implements LocalConnections {
  private readonly byId = new Map<string, Session>();
  private readonly byUser = new Map<string, Set<Session>>();
  /** Sessions currently past SLOW_BYTES: their typing/presence pushes are skipped. */
  readonly slow = new Set<Session>();

  get size(): number {
    return this.byId.size;
  }

  add(session: Session): void {
    this.byId.set(session.connId, session);
    let set = this.byUser.get(session.user);
    if (!set) {
      set = new Set();
      this.byUser.set(session.user, set);
    }
    set.add(session);
  }

  remove(session: Session): void {
    this.byId.delete(session.connId);
    this.slow.delete(session);
    const set = this.byUser.get(session.user);
    if (set?.delete(session) && set.size === 0) this.byUser.delete(session.user);
  }

  get(connId: string): Session | undefined {
    return this.byId.get(connId);
  }

  has(connId: string): boolean {
    return this.byId.has(connId);
  }

  forUser(user: string): Session[] {
    return [...(this.byUser.get(user) ?? [])];
  }

  all(): IterableIterator<Session> {
    return this.byId.values();
  }

  /** Slow sessions joined to `room`: the number of typing/presence pushes they miss per publish. */
  slowIn(room: string): number {
    let n = 0;
    for (const s of this.slow) if (s.joined.has(room)) n++;
    return n;
  }
}
