import type { PresenceMode } from '../rooms/ports.js';
import { batchTopic, ephemeralTopics, mainTopic, type PushFrame, type Transport } from './transport.js';
import type { WebSocket } from './uws.js';

/**
 * Transport over a native uWS WebSocket (`/ws`): JSON text frames, rooms as uWS topics. A
 * `batch` connection (`/ws?batch=1`) takes its rooms' messages and reads from the batch topic,
 * where a turn's pushes of a room come as one array frame.
 */
export class NativeTransport<T> implements Transport {
  readonly kind = 'ws';
  open = true;
  private ephemeral = true;
  /** The presence mode of each subscribed room. */
  private modes: Map<string, PresenceMode> | undefined;

  constructor(
    readonly ws: WebSocket<T>,
    readonly batch = false,
  ) {}

  /** The topic this connection takes a room's `msg` and `read` pushes from. */
  mainTopicOf(room: string): string {
    return this.batch ? batchTopic(room) : mainTopic(room);
  }

  push(frame: PushFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  sendText(text: string): void {
    if (!this.open) return;
    this.ws.cork(() => this.ws.send(text, false));
  }

  subscribe(room: string, presence: PresenceMode): void {
    if (!this.open) return;
    const before = this.modes?.get(room);
    if (before !== undefined && before !== presence) for (const topic of ephemeralTopics(room, before)) this.ws.unsubscribe(topic);
    (this.modes ??= new Map()).set(room, presence);
    this.ws.subscribe(this.mainTopicOf(room));
    if (this.ephemeral) for (const topic of ephemeralTopics(room, presence)) this.ws.subscribe(topic);
  }

  unsubscribe(room: string): void {
    const mode = this.modes?.get(room) ?? 'each';
    this.modes?.delete(room);
    if (!this.open) return;
    this.ws.unsubscribe(this.mainTopicOf(room));
    for (const topic of ephemeralTopics(room, mode)) this.ws.unsubscribe(topic);
  }

  setEphemeral(rooms: Iterable<string>, on: boolean): void {
    this.ephemeral = on;
    if (!this.open) return;
    for (const room of rooms) {
      for (const topic of ephemeralTopics(room, this.modes?.get(room) ?? 'each')) {
        if (on) this.ws.subscribe(topic);
        else this.ws.unsubscribe(topic);
      }
    }
  }

  /** Publishes to a topic's subscribers except this socket (a push for the room's other members). */
  publishFromSelf(topic: string, text: string): void {
    if (this.open) this.ws.publish(topic, text, false);
  }

  bufferedAmount(): number {
    return this.open ? this.ws.getBufferedAmount() : 0;
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.ws.end(code, reason);
  }

  /** Drops the connection without a close frame (a dead peer). */
  terminate(): void {
    if (!this.open) return;
    this.open = false;
    this.ws.close();
  }

  ping(): void {
    if (this.open) this.ws.ping();
  }
}
