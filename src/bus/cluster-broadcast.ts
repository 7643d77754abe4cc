import type { ControlEvent, RoomEvent } from '../rooms/types.js';
import type { Logger } from '../shared/logger.js';
import type { Broadcast, ControlListener, RoomListener } from './broadcast.js';

/** What travels on the bus: one room's events from one node and one event-loop turn. */
interface RoomEnvelope {
  n: string;
  r: string;
  e: RoomEvent[];
}

interface ControlEnvelope {
  n: string;
  c: ControlEvent;
}

/**
 * All cluster logic of the bus, once: local delivery without waiting for an echo, dropping our
 * own echo, coalescing a room's events of one turn into one publish, envelopes and the control
 * channel. Adapters implement only the raw publish/subscribe of their transport.
 *
 * Guarantees (see Broadcast): at-most-once; a room's events from one node stay in order.
 */
export abstract class ClusterBroadcast implements Broadcast {
  private roomListener: RoomListener | undefined;
  private controlListener: ControlListener | undefined;
  private readonly subscribed = new Set<string>();
  private readonly outbox = new Map<string, RoomEvent[]>();
  private flushing: Promise<void> | undefined;

  protected constructor(
    protected readonly nodeId: string,
    protected readonly logger: Logger,
  ) {}

  /** True while the transport is connected (readiness). */
  abstract get connected(): boolean;
  abstract start(): Promise<void>;
  abstract close(): Promise<void>;
  protected abstract publishRaw(channel: string, data: string): Promise<void>;
  protected abstract subscribeRaw(channel: string): Promise<void>;
  protected abstract unsubscribeRaw(channel: string): Promise<void>;
  protected abstract roomChannel(room: string): string;
  protected abstract controlChannel(): string;

  onRoomEvent(listener: RoomListener): void {
    this.roomListener = listener;
  }

  onControl(listener: ControlListener): void {
    this.controlListener = listener;
  }

  async subscribe(room: string): Promise<void> {
    if (this.subscribed.has(room)) return;
    this.subscribed.add(room);
    try {
      await this.subscribeRaw(this.roomChannel(room));
    } catch (err) {
      this.subscribed.delete(room);
      throw err;
    }
  }

  async unsubscribe(room: string): Promise<void> {
    if (!this.subscribed.delete(room)) return;
    await this.unsubscribeRaw(this.roomChannel(room));
  }

  /** Delivers locally at once, and to the other nodes with this turn's other events of the room. */
  publish(room: string, event: RoomEvent): Promise<void> {
    if (this.subscribed.has(room)) this.roomListener?.(room, event);
    let batch = this.outbox.get(room);
    if (!batch) {
      batch = [];
      this.outbox.set(room, batch);
    }
    batch.push(event);
    this.flushing ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.flushing = undefined;
        this.flush().then(resolve, reject);
      });
    });
    return this.flushing;
  }

  async publishControl(event: ControlEvent): Promise<void> {
    this.controlListener?.(event);
    await this.publishRaw(this.controlChannel(), JSON.stringify({ n: this.nodeId, c: event } satisfies ControlEnvelope));
  }

  /** Subclasses call this for every message on a room channel. */
  protected receivedRoom(data: string): void {
    let env: RoomEnvelope;
    try {
      env = JSON.parse(data) as RoomEnvelope;
    } catch (err) {
      this.logger.error({ err }, 'dropping an unreadable bus message');
      return;
    }
    if (env.n === this.nodeId || !this.subscribed.has(env.r)) return;
    for (const event of env.e) this.roomListener?.(env.r, event);
  }

  /** Subclasses call this for every message on the control channel. */
  protected receivedControl(data: string): void {
    try {
      const env = JSON.parse(data) as ControlEnvelope;
      if (env.n !== this.nodeId) this.controlListener?.(env.c);
    } catch (err) {
      this.logger.error({ err }, 'dropping an unreadable control message');
    }
  }

  private async flush(): Promise<void> {
    const batches = [...this.outbox];
    this.outbox.clear();
    const results = await Promise.allSettled(
      batches.map(([room, events]) => this.publishRaw(this.roomChannel(room), JSON.stringify({ n: this.nodeId, r: room, e: events } satisfies RoomEnvelope))),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
