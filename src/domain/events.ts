import type { ChatMessage } from './messages.js';
import type { PresenceStatus } from './presence.js';

/** Events fanned out to a room's members on every node. */
export type RoomEvent =
  /** `epoch` rides the bus only (never a client push): it tells a node its room lost its state. */
  | { kind: 'msg'; message: ChatMessage; epoch?: string }
  /** `occupancy` rides the bus only: the room's users online after the change, when known (batching decides on it). */
  | { kind: 'presence'; user: string; status: PresenceStatus; occupancy?: number }
  | { kind: 'typing'; user: string; on: boolean; origin?: string }
  | { kind: 'read'; user: string; seq: number; origin?: string };

export type ModerationAction = 'mute' | 'unmute' | 'ban' | 'unban';

/** Cluster-wide commands carried by the bus's control channel. */
export type ControlEvent =
  | { kind: 'disconnect'; user: string; code: number; reason: string }
  /** A restriction of `user` in `room` changed: their connections are told, and leave the room on a ban. */
  | { kind: 'moderation'; room: string; user: string; action: ModerationAction; until: number | null };
