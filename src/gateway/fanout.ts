import type { Server } from 'socket.io';
import type { LocalDelivery } from '../rooms/ports.js';
import type { RoomEvent } from '../domain/events.js';
import type { PresenceDelta, PresenceStatus } from '../domain/presence.js';
import { asSent, wireChange } from '../domain/summary.js';
import { CloseCode } from '../shared/close-codes.js';
import type { GatewayMetrics } from './metrics.js';
import { NativeTransport } from './native-transport.js';
import type { SessionRegistry } from './registry.js';
import { SioTransport } from './sio-transport.js';
import { batchTopic, changesTopic, deltaTopic, ephemeralTopic, mainTopic } from './transport.js';
import { TopicPacer } from './topic-pacer.js';
import { TurnBatches } from './turn-batches.js';
import type { TemplatedApp } from './uws.js';

/** Most characters of pushes in one batched frame: a burst of large messages spans several frames. */
const BATCH_FRAME_CHARS = 64 * 1024;

/**
 * Local delivery of room events on this node. Each event is serialized once and handed to uWS
 * topic publish (native clients; uWS coalesces a turn's publishes per subscriber) and to
 * Socket.IO's room broadcast (which socket.io's uWS integration turns into a topic publish too).
 *
 * A room's `msg` and `read` pushes keep one order on each channel. `/ws` clients that accept
 * batched frames get those of one turn as one array frame on the batch topic (TurnBatches);
 * the others get one frame per push, at most 32 per room and turn, the rest in the next turns
 * (TopicPacer), since uWS slows down past 32 messages per subscriber in a turn.
 */
export class Fanout implements LocalDelivery {
  private readonly batches: TurnBatches;
  private readonly paced: TopicPacer<NativeTransport<unknown>>;

  constructor(
    private readonly app: TemplatedApp,
    private readonly io: Server,
    private readonly sessions: SessionRegistry,
    private readonly metrics: GatewayMetrics,
  ) {
    this.batches = new TurnBatches((room, frame) => this.app.publish(batchTopic(room), frame, false), BATCH_FRAME_CHARS);
    this.paced = new TopicPacer((topic, push, from) => {
      // A connection closed meanwhile is unsubscribed already: nobody left to skip.
      if (from?.open) from.publishFromSelf(topic, push);
      else this.app.publish(topic, push, false);
    });
  }

  deliver(room: string, event: RoomEvent): void {
    switch (event.kind) {
      case 'msg': {
        const topic = mainTopic(room);
        // A change (`op`) is a `change` push, in order with the messages on the same channels; a
        // message healed from the store comes with its summary, which `msg` pushes do not carry.
        const m = event.message;
        const t = m.op === undefined ? 'msg' : 'change';
        const payload = m.op !== undefined ? wireChange(m) : asSent(m);
        const text = `{"t":"${t}",${JSON.stringify(payload).slice(1)}`;
        const plain = this.app.numSubscribers(topic);
        if (plain > 0) this.paced.publish(topic, text);
        const batched = this.app.numSubscribers(batchTopic(room));
        if (batched > 0) this.batches.add(room, text);
        // Socket.IO encodes and publishes even to an empty room: skip it when nobody is there.
        const sio = this.io.sockets.adapter.rooms.get(topic)?.size ?? 0;
        if (sio > 0) this.io.local.to(topic).emit(t, payload);
        this.metrics.messagesOut.inc(plain + batched + sio);
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
        this.publishRead(room, { room, user: event.user, seq: event.seq }, event.origin);
        return;
    }
  }

  presenceChange(room: string, user: string, status: PresenceStatus): void {
    this.publish(changesTopic(room), 'presence', { room, user, status }, undefined);
    this.metrics.droppedPushes.inc(this.sessions.slowIn(room));
  }

  presenceDelta(delta: PresenceDelta): void {
    this.publish(deltaTopic(delta.room), 'presence_delta', { ...delta }, undefined);
    this.metrics.droppedPushes.inc(this.sessions.slowIn(delta.room));
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

  /**
   * A `read` push to the room's other members, in order with its messages on every channel.
   * For batch subscribers, one that must skip its originating connection (on this node,
   * batched) cannot share the turn's frame: the frame so far goes out first, then the push alone.
   */
  private publishRead(room: string, payload: { room: string; user: string; seq: number }, origin: string | undefined): void {
    const text = `{"t":"read",${JSON.stringify(payload).slice(1)}`;
    const from = origin !== undefined ? this.sessions.get(origin)?.transport : undefined;
    const native = from instanceof NativeTransport ? (from as NativeTransport<unknown>) : undefined;
    const topic = mainTopic(room);
    if (this.app.numSubscribers(topic) > 0) this.paced.publish(topic, text, native && !native.batch ? native : undefined);
    if (this.app.numSubscribers(batchTopic(room)) > 0) {
      if (native?.batch && native.open) {
        this.batches.flush(room);
        native.publishFromSelf(batchTopic(room), text);
      } else {
        this.batches.add(room, text);
      }
    }
    if (!this.io.sockets.adapter.rooms.has(topic)) return;
    const target = this.io.local.to(topic);
    (from instanceof SioTransport ? target.except(from.socket.id) : target).emit('read', payload);
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
