import type { RoomEvent } from './types.js';

/** A local connection as the room service sees it: who it is, and its room subscription. */
export interface LocalConnection {
  readonly connId: string;
  readonly user: string;
  /** Starts local delivery of the room's events to this connection. */
  subscribe(room: string): void;
  unsubscribe(room: string): void;
}

/** Delivers a room event to this node's connections subscribed to the room (implemented by the gateway). */
export interface LocalDelivery {
  deliver(room: string, event: RoomEvent): void;
  /**
   * The room's state was lost and its seqs started again: this node's members of the room hold
   * positions that no longer line up, so they must reconnect and rejoin.
   */
  roomReset(room: string): void;
}

export interface RoomMetrics {
  messageAccepted(dup: boolean): void;
  gapHealed(room: string): void;
}

export interface RoomsConfig {
  nodeId: string;
  dedupeTtlS: number;
  presenceGraceS: number;
  typingTtlS: number;
  recoveryMax: number;
  /** RECOVERY_MAX_BYTES: most bytes of a serialized reply frame that carries messages. */
  recoveryMaxBytes: number;
}
