/**
 * Per-room restrictions (docs/protocol.md, "Moderation"): slow mode, and mutes and bans of
 * users. A restriction has an end (`until`, ms since the epoch) or none (`null`); an ended one
 * counts as lifted. They live beside the room's state (same storage, same hash tag), so that the
 * checks of a send run in the same step as its dedupe and sequencing (RoomState.appendChecked).
 * They survive a new epoch of the room; what survives a restart is what the storage keeps.
 */

export type RestrictionKind = 'mute' | 'ban';

export interface Restriction {
  user: string;
  /** Ms since the epoch; null: until lifted. */
  until: number | null;
}

export interface RoomModeration {
  room: string;
  /** Seconds a user waits between two sends (0: no slow mode). */
  slowModeS: number;
  muted: Restriction[];
  banned: Restriction[];
}

/** Why a client's send or join was refused by the room's restrictions. */
export type Refusal =
  | { code: 'banned' | 'muted'; until: number | null }
  | { code: 'slow_mode'; retryAfterMs: number };

/** What the checks of a send need to know of its sender. */
export interface SendChecks {
  /** The sender moderates the room (the token's `mod` claim): slow mode does not apply. */
  slowExempt: boolean;
}

export interface Moderation {
  /** `seconds` between two sends of a user in the room; 0 ends slow mode. */
  setSlowMode(room: string, seconds: number): Promise<void>;
  /** Mutes or bans `user` in `room` until `until` (null: until lifted), replacing any earlier one. */
  restrict(room: string, kind: RestrictionKind, user: string, until: number | null): Promise<void>;
  /** Ends the restriction; false when there was none in force. */
  lift(room: string, kind: RestrictionKind, user: string, now: number): Promise<boolean>;
  /** The end of the user's ban in the room (null: no end), or undefined when not banned. */
  banned(room: string, user: string, now: number): Promise<number | null | undefined>;
  /** The room's restrictions in force at `now`, users in name order. */
  read(room: string, now: number): Promise<RoomModeration>;
}

/** Stored form of an end: 0 for none. */
export function storedUntil(until: number | null): number {
  return until ?? 0;
}

/** The restriction in force of a stored end at `now`: the end (null: none), or undefined when over. */
export function inForce(stored: number, now: number): number | null | undefined {
  if (stored === 0) return null;
  return stored > now ? stored : undefined;
}
