export type PresenceStatus = 'online' | 'offline';

/** A big room's presence changes of one interval, each user by their final state (the `presence_delta` push without `t`). */
export interface PresenceDelta {
  room: string;
  online: string[];
  offline: string[];
}

/** A user online in a room; `devices`: their connections in it. */
export interface Member {
  user: string;
  devices: number;
  /** ISO time the user came online in the room. */
  since: string;
}

/** One page of a listing: `next` is the cursor of the page after it (null: there is none). */
export interface Page<T> {
  items: T[];
  next: string | null;
}
