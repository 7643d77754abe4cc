import type { ControlEvent, RoomEvent } from '../domain/events.js';
import type { Logger } from '../shared/logger.js';
import { annotate, ATTR, batchParent, endSpan, SpanKind, startSpan, traceFromHeaders, traceHeaders, type HeaderReader, type TraceContext, type Tracer } from '../shared/tracing.js';
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
  /** The trace contexts of the outbox's traced events, per room (tracing on only). */
  private readonly outboxTraces = new Map<string, TraceContext[]>();
  private flushing: Promise<void> | undefined;

  protected constructor(
    protected readonly nodeId: string,
    protected readonly logger: Logger,
    /** Set while tracing is on: spans of bus publishes and of deliveries of traced sends. */
    private readonly tracer?: Tracer,
  ) {}

  /** True while the transport is connected (readiness). */
  abstract get connected(): boolean;
  abstract start(): Promise<void>;
  abstract close(): Promise<void>;
  /** `headers`: the trace context of a traced publish, for transports that carry headers. */
  protected abstract publishRaw(channel: string, data: string, headers?: Readonly<Record<string, string>>): Promise<void>;
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
  publish(room: string, event: RoomEvent, trace?: TraceContext): Promise<void> {
    if (this.subscribed.has(room)) {
      if (trace && this.tracer) this.deliverTraced(room, [event], trace, 'local');
      else this.roomListener?.(room, event);
    }
    let batch = this.outbox.get(room);
    if (!batch) {
      batch = [];
      this.outbox.set(room, batch);
    }
    batch.push(event);
    if (trace) {
      const traces = this.outboxTraces.get(room);
      if (traces) traces.push(trace);
      else this.outboxTraces.set(room, [trace]);
    }
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

  /** Subclasses call this for every message on a room channel, with its headers if the transport has them. */
  protected receivedRoom(data: string, headers?: HeaderReader): void {
    let env: RoomEnvelope;
    try {
      env = JSON.parse(data) as RoomEnvelope;
    } catch (err) {
      this.logger.error({ err }, 'dropping an unreadable bus message');
      return;
    }
    if (env.n === this.nodeId || !this.subscribed.has(env.r)) return;
    const parent = this.tracer ? traceFromHeaders(headers) : undefined;
    if (parent) return this.deliverTraced(env.r, env.e, parent, 'bus');
    for (const event of env.e) this.roomListener?.(env.r, event);
  }

  /** Local delivery of a traced send's events, in a span (delivery to the sockets is synchronous). */
  private deliverTraced(room: string, events: readonly RoomEvent[], parent: TraceContext, delivery: 'local' | 'bus'): void {
    const span = startSpan(this.tracer as Tracer, 'parley.deliver', delivery === 'bus' ? SpanKind.CONSUMER : SpanKind.INTERNAL, parent, room, firstSeq(events));
    annotate(span, { [ATTR.delivery]: delivery, [ATTR.messages]: events.length });
    try {
      for (const event of events) this.roomListener?.(room, event);
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    endSpan(span);
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
    const traces = this.outboxTraces.size > 0 ? new Map(this.outboxTraces) : undefined;
    this.outboxTraces.clear();
    const results = await Promise.allSettled(batches.map(([room, events]) => this.publishRoom(room, events, traces?.get(room))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * One room's events of this turn, in one publish. Traced sends among them: a span, child of
   * the first one's trace and linked to the others', whose context the headers carry.
   */
  private async publishRoom(room: string, events: RoomEvent[], traces: TraceContext[] | undefined): Promise<void> {
    const data = JSON.stringify({ n: this.nodeId, r: room, e: events } satisfies RoomEnvelope);
    if (!traces || !this.tracer) return this.publishRaw(this.roomChannel(room), data);
    const { parent, links } = batchParent(traces);
    const span = startSpan(this.tracer, 'parley.bus.publish', SpanKind.PRODUCER, parent, room, firstSeq(events), links);
    annotate(span, { [ATTR.messages]: events.length });
    try {
      await this.publishRaw(this.roomChannel(room), data, traceHeaders(span));
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    endSpan(span);
  }
}

/** The seq of the first message among `events`, for a span's attributes. */
function firstSeq(events: readonly RoomEvent[]): number | undefined {
  for (const e of events) if (e.kind === 'msg') return e.message.seq;
  return undefined;
}
