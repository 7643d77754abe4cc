import type { Lifecycle } from '../../shared/lifecycle.js';
import type { Member, Page } from '../types.js';

export interface RoomOccupancy {
  room: string;
  occupancy: number;
}

export interface UserPresence {
  user: string;
  online: boolean;
  devices: number;
  rooms: string[];
}

/**
 * Who is connected and where, across the cluster.
 *
 * A user is online in a room from their first connection's `join` until `expire` succeeds
 * after the grace period that follows their last connection's `leave`; inside that period
 * they still count in occupancy and keep their `since`, and a new `join` is not `first`.
 * Guarantees: per-connection entries; the memory adapter loses everything on restart.
 */
export interface Presence extends Lifecycle {
  /** Counts the connection against the user's cluster-wide cap; false (and nothing stored) when full. */
  registerConnection(user: string, connId: string, max: number): Promise<boolean>;
  unregisterConnection(user: string, connId: string): Promise<void>;
  /** `first`: the user was not online in the room (not even within the grace period). */
  join(room: string, user: string, connId: string, now: number): Promise<{ first: boolean }>;
  /** `last`: the user has no connection left in the room and enters the grace period. */
  leave(room: string, user: string, connId: string, now: number): Promise<{ last: boolean }>;
  /** After the grace period: removes the user when they still have no connection; true if removed. */
  expire(room: string, user: string): Promise<boolean>;
  occupancy(room: string): Promise<number>;
  members(room: string, cursor: string | undefined, limit: number): Promise<Page<Member>>;
  rooms(cursor: string | undefined, limit: number): Promise<Page<RoomOccupancy>>;
  user(user: string): Promise<UserPresence>;
  stats(): Promise<{ connections: number; rooms: number; nodes: number }>;
  /**
   * Called for each (room, user) this adapter took offline because the node holding their
   * connections died (cluster adapters only): the room service publishes `offline` for them.
   */
  onReaped(listener: (room: string, user: string) => void): void;
}
