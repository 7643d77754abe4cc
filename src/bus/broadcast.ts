import type { Lifecycle } from '../shared/lifecycle.js';
import type { ControlEvent, RoomEvent } from '../domain/events.js';
import type { TraceContext } from '../shared/tracing.js';

export type RoomListener = (room: string, event: RoomEvent) => void;
export type ControlListener = (event: ControlEvent) => void;

/**
 * Fan-out of room events to every node with local members of the room.
 *
 * Guarantees: at-most-once, no persistence; events of one room published from one node arrive
 * in publish order, but events from different nodes may interleave and any event may be lost
 * (a reconnect of the bus). Consumers order `msg` events by seq and heal gaps from RoomState.
 * Interest-based: a node receives a room's events only between `subscribe` and `unsubscribe`.
 */
export interface Broadcast extends Lifecycle {
  /** The single listener of this node for every subscribed room. */
  onRoomEvent(listener: RoomListener): void;
  onControl(listener: ControlListener): void;
  subscribe(room: string): Promise<void>;
  unsubscribe(room: string): Promise<void>;
  /** `trace` (tracing on): the send's span, parent of the publish and of the other nodes' deliveries. */
  publish(room: string, event: RoomEvent, trace?: TraceContext): Promise<void>;
  publishControl(event: ControlEvent): Promise<void>;
}
