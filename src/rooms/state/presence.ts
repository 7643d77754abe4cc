import type { Lifecycle } from '../../shared/lifecycle.js';
import type { Member, Page } from '../../domain/presence.js';

export interface RoomOccupancy {
  room: string;
  occupancy: number;
}

/** A room's occupancy without its roster. */
export interface OccupancyCounts {
  /** Users online in the room, those inside the grace period included (`occupancy`). */
  users: number;
  /** Their connections in the room on every node (a user in the grace period has none). */
  devices: number;
}

export interface UserPresence {
  user: string;
  online: boolean;
  devices: number;
  rooms: string[];
}

/** One of this node's open connections, as presence needs it (the gateway's sessions fit as they are). */
export interface OpenConnection {
  readonly connId: string;
  readonly user: string;
  /** Its rooms, keyed by name: joined, or being joined (a join in flight is listed). */
  readonly joined: ReadonlyMap<string, unknown>;
}

/** This node's open connections: what its presence entries must match (see `trackLocal`). */
export interface LocalConnections {
  all(): Iterable<OpenConnection>;
  has(connId: string): boolean;
  /** The number of connections in `all()` and of their rooms summed, when kept as they change (spares a walk over all). */
  counts?(): { conns: number; joins: number };
}

export type PresenceListener = (room: string, user: string) => void;

/**
 * Who is connected and where, across the cluster.
 *
 * A user is online in a room from their first connection's `join` until `expire` succeeds
 * after the grace period that follows their last connection's `leave`; inside that period
 * they still count in occupancy and keep their `since`, and a new `join` is not `first`.
 * Entries are per connection; the memory adapter loses everything on restart.
 *
 * Eventually true (cluster adapters, once `trackLocal` names the node's open connections):
 * whatever failed on the way (a `leave` or `unregisterConnection` that threw, a Redis restart or
 * flush, this node paused or partitioned long enough to be reaped by the others), within
 * NODE_TTL_S of Redis answering again every connection `trackLocal` lists counts again in presence,
 * occupancy and the cap (even past the cap: it is open already), and every other entry this
 * node made is removed, its users going offline after the grace period. A failed call is
 * never retried by the caller: the adapter brings its entries back to the open connections.
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
  /** `occupancy` and the room's connections, read together in O(1): never from the roster. */
  counts(room: string): Promise<OccupancyCounts>;
  members(room: string, cursor: string | undefined, limit: number): Promise<Page<Member>>;
  rooms(cursor: string | undefined, limit: number): Promise<Page<RoomOccupancy>>;
  user(user: string): Promise<UserPresence>;
  stats(): Promise<{ connections: number; rooms: number; nodes: number }>;
  /**
   * The source of truth for this node's entries, given once at wiring time. A registered
   * connection not listed yet (admitted, its socket not open yet) keeps counting for a few
   * heartbeats; after that, only what `connections` lists counts.
   */
  trackLocal(connections: LocalConnections): void;
  /**
   * Called for each (room, user) this adapter took offline because the node holding their
   * connections died (cluster adapters only): the room service publishes `offline` for them.
   */
  onReaped(listener: PresenceListener): void;
  /**
   * Called for each (room, user) that was not online in the room until this adapter counted
   * one of the node's open connections again (after a reap or a loss of state): the room
   * service publishes `online` for them.
   */
  onRestored(listener: PresenceListener): void;
}
