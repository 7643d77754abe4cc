import { batchTopic, ephemeralTopic, mainTopic, type PushFrame, type Transport } from './transport.js';
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

  subscribe(room: string): void {
    if (!this.open) return;
    this.ws.subscribe(this.mainTopicOf(room));
    if (this.ephemeral) this.ws.subscribe(ephemeralTopic(room));
  }

  unsubscribe(room: string): void {
    if (!this.open) return;
    this.ws.unsubscribe(this.mainTopicOf(room));
    this.ws.unsubscribe(ephemeralTopic(room));
  }

  setEphemeral(rooms: Iterable<string>, on: boolean): void {
    this.ephemeral = on;
    if (!this.open) return;
    for (const room of rooms) {
      if (on) this.ws.subscribe(ephemeralTopic(room));
      else this.ws.unsubscribe(ephemeralTopic(room));
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
