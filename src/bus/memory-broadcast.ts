import type { ControlEvent, RoomEvent } from '../domain/events.js';
import type { Broadcast, ControlListener, RoomListener } from './broadcast.js';

/** Broadcast of embedded mode: one node, so publishing is delivering to this node's listener, in order. */
export class MemoryBroadcast implements Broadcast {
  private readonly subscribed = new Set<string>();
  private roomListener: RoomListener | undefined;
  private controlListener: ControlListener | undefined;

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.subscribed.clear();
    return Promise.resolve();
  }

  onRoomEvent(listener: RoomListener): void {
    this.roomListener = listener;
  }

  onControl(listener: ControlListener): void {
    this.controlListener = listener;
  }

  subscribe(room: string): Promise<void> {
    this.subscribed.add(room);
    return Promise.resolve();
  }

  unsubscribe(room: string): Promise<void> {
    this.subscribed.delete(room);
    return Promise.resolve();
  }

  publish(room: string, event: RoomEvent): Promise<void> {
    if (this.subscribed.has(room)) this.roomListener?.(room, event);
    return Promise.resolve();
  }

  publishControl(event: ControlEvent): Promise<void> {
    this.controlListener?.(event);
    return Promise.resolve();
  }
}
