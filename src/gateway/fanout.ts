import type { Server } from 'socket.io';
import type { Metrics } from '../admin/metrics.js';
import type { LocalDelivery } from '../rooms/ports.js';
import type { RoomEvent } from '../rooms/types.js';
import { CloseCode } from '../shared/close-codes.js';
import { NativeTransport } from './native-transport.js';
import type { SessionRegistry } from './registry.js';
import { SioTransport } from './sio-transport.js';
import { ephemeralTopic, mainTopic } from './transport.js';
import type { TemplatedApp } from './uws.js';

/**
 * Local delivery of room events on this node. Each event is serialized once and handed to uWS
 * topic publish (native clients; uWS coalesces a turn's publishes per subscriber) and to
 * Socket.IO's room broadcast (which socket.io's uWS integration turns into a topic publish too).
 */
export class Fanout implements LocalDelivery {
  constructor(
    private readonly app: TemplatedApp,
    private readonly io: Server,
    private readonly sessions: SessionRegistry,
    private readonly metrics: Metrics,
  ) {}

  deliver(room: string, event: RoomEvent): void {
    switch (event.kind) {
      case 'msg': {
        const topic = mainTopic(room);
        const payload = event.message;
        this.app.publish(topic, `{"t":"msg",${JSON.stringify(payload).slice(1)}`, false);
        // Socket.IO encodes and publishes even to an empty room: skip it when nobody is there.
        const sio = this.io.sockets.adapter.rooms.get(topic)?.size ?? 0;
        if (sio > 0) this.io.local.to(topic).emit('msg', payload);
        this.metrics.messagesOut.inc(this.app.numSubscribers(topic) + sio);
        return;
      }
      case 'presence':
        this.publish(ephemeralTopic(room), 'presence', { room, user: event.user, status: event.status }, undefined);
        this.metrics.droppedPushes.inc(this.sessions.slowIn(room));
        return;
      case 'typing':
        this.publish(ephemeralTopic(room), 'typing', { room, user: event.user, on: event.on }, event.origin);
        this.metrics.droppedPushes.inc(this.sessions.slowIn(room));
        return;
      case 'read':
        this.publish(mainTopic(room), 'read', { room, user: event.user, seq: event.seq }, event.origin);
        return;
    }
  }

  /**
   * Closes this node's members of the room with 1001 ("reconnect at once and resume"): their
   * rejoin with `since` and `epoch` answers `recovered: false` with the new epoch. After this
   * turn, so replies already on their way are written first.
   */
  roomReset(room: string): void {
    setImmediate(() => {
      for (const s of [...this.sessions.inRoom(room)]) s.close(CloseCode.DRAINING, 'room state was lost, rejoin');
    });
  }

  /** Publishes to both transports, skipping the originating connection when it is on this node. */
  private publish(topic: string, t: string, payload: Record<string, unknown>, origin: string | undefined): void {
    const text = `{"t":"${t}",${JSON.stringify(payload).slice(1)}`;
    const from = origin !== undefined ? this.sessions.get(origin)?.transport : undefined;
    if (from instanceof NativeTransport) from.publishFromSelf(topic, text);
    else this.app.publish(topic, text, false);
    if (!this.io.sockets.adapter.rooms.has(topic)) return;
    const target = this.io.local.to(topic);
    (from instanceof SioTransport ? target.except(from.socket.id) : target).emit(t, payload);
  }
}
