import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { QueueNames } from '../bus/jetstream-streams.js';
import type { PubAckPublisher } from '../bus/pub-ack-publisher.js';
import type { Logger } from '../shared/logger.js';
import { Pauses } from '../shared/pauses.js';
import { RelayLease } from './relay-lease.js';
import type { RoomMembers } from './room-members.js';
import { encodeEvent, eventHeaders, missedEvent, queuedEvent, type WebhookEvent } from './webhook-event.js';
import type { WebhookMetrics } from './webhook-metrics.js';
import { hookSubject, partitionOf, type WebhookNames } from './webhook-streams.js';

export interface RelayOptions {
  /** The lease's TTL: after a holder died, another worker relays within about this. */
  leaseMs: number;
  /** The relay consumer's ack wait: a dead holder's batch comes back after it. */
  ackWaitMs: number;
  batchSize: number;
  fetchExpiresMs: number;
}

export interface RelayDeps {
  nc: NatsConnection;
  prefix: string;
  queue: QueueNames;
  names: WebhookNames;
  partitions: number;
  members: Pick<RoomMembers, 'offline'>;
  publisher: PubAckPublisher;
  metrics: WebhookMetrics;
  logger: Logger;
  /** This worker's name in the lease. */
  holder: string;
  replicas: number;
  options: RelayOptions;
}

const decoder = new TextDecoder();
const RETRY_MS = 1_000;

/**
 * Turns stored messages into webhook events: reads the queue stream through the durable
 * consumer `<prefix>_hooks_relay` and queues, for each message, `message.stored` and (when some
 * member had no connection) `message.missed` on the room's partition of the webhook stream, each
 * under its event id as msg id, then acks the batch. "Stored" thus means what the `send` reply
 * means: durable in the queue stream; the persist workers write MongoDB beside it.
 *
 * Order: one relay at a time (RelayLease), publishing in stream order over one connection, so a
 * room's events enter its partition in the order its messages entered the queue. A worker that
 * takes the lease over first waits until its predecessor's unacknowledged batch is back for
 * redelivery (the consumer's ack wait), so that batch is relayed again before anything newer;
 * events it had already queued are dropped as duplicates of their id.
 */
export class WebhookRelay {
  private readonly js: JetStreamClient;
  private lease: RelayLease | undefined;
  private running: Promise<void> | undefined;
  private readonly pauses = new Pauses();
  private closed: Promise<void> | undefined;

  constructor(private readonly deps: RelayDeps) {
    this.js = deps.nc.jetstream();
  }

  async start(): Promise<void> {
    const { names, options, replicas, holder, logger } = this.deps;
    const kv = await this.js.views.kv(names.leaseBucket, { ttl: options.leaseMs, history: 1, replicas });
    this.lease = new RelayLease(kv, holder, options.leaseMs, logger);
    this.lease.start();
    const consumer = await this.js.consumers.get(this.deps.queue.stream, names.relayConsumer);
    this.running = this.loop(consumer, await this.deps.nc.jetstreamManager());
  }

  /** Stops after the batch in hand (acked, or nak-ed when it could not be relayed) and gives the lease up. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.pauses.stop();
      await this.running;
      await this.lease?.close();
    })();
    return this.closed;
  }

  private async loop(consumer: Consumer, jsm: JetStreamManager): Promise<void> {
    const lease = this.lease as RelayLease;
    let generation = 0;
    let failing = false;
    while (!this.closing) {
      if (!lease.held) {
        await this.pause(this.deps.options.leaseMs / 6);
        continue;
      }
      try {
        if (lease.generation !== generation) {
          const taken = lease.generation;
          await this.predecessorSettled(jsm);
          generation = taken;
          continue;
        }
        await this.relayFetched(await consumer.fetch({ max_messages: this.deps.options.batchSize, expires: this.deps.options.fetchExpiresMs }), lease);
        if (failing) this.deps.logger.info('the webhook relay works again');
        failing = false;
      } catch (err) {
        if (!failing) this.deps.logger.error({ err, consumer: this.deps.names.relayConsumer }, 'the webhook relay failed; retrying');
        failing = true;
        await this.pause(RETRY_MS);
      }
    }
  }

  /**
   * Relays a pull's messages as they arrive, not when the pull ends (it waits up to its expiry
   * for a full batch): each batch is what has arrived by the time the one before is relayed.
   */
  private async relayFetched(messages: ConsumerMessages, lease: RelayLease): Promise<void> {
    const arriving = messages[Symbol.asyncIterator]();
    const pull = () => {
      const p = arriving.next();
      // Awaited later, maybe after it failed: not an unhandled rejection meanwhile.
      p.catch(() => undefined);
      return p;
    };
    let next = pull();
    let batch: JsMsg[] = [];
    try {
      for (;;) {
        const first = await next;
        if (first.done === true) return;
        batch = [first.value];
        next = pull();
        while (batch.length < this.deps.options.batchSize) {
          const more = await Promise.race([next, new Promise<'idle'>((resolve) => setImmediate(() => resolve('idle')))]);
          if (more === 'idle' || more.done === true) break;
          batch.push(more.value);
          next = pull();
        }
        const relaying = batch;
        batch = [];
        await this.relay(relaying, lease);
      }
    } catch (err) {
      // Handed back at once, so that they are relayed again before anything newer.
      batch.forEach((m) => m.nak());
      throw err;
    }
  }

  /** Until the relay consumer has nothing unacknowledged left, or its ack wait has passed. */
  private async predecessorSettled(jsm: JetStreamManager): Promise<void> {
    const until = Date.now() + this.deps.options.ackWaitMs + 1_000;
    while (!this.closing && Date.now() < until) {
      const info = await jsm.consumers.info(this.deps.queue.stream, this.deps.names.relayConsumer);
      if (info.num_ack_pending === 0) return;
      await this.pause(200);
    }
  }

  /** Queues the batch's events in order, retrying while the lease is held; acks it, or naks it once the lease is lost. */
  private async relay(batch: JsMsg[], lease: RelayLease): Promise<void> {
    const keepAlive = setInterval(() => batch.forEach((m) => m.working()), Math.max(100, this.deps.options.ackWaitMs / 3));
    let failing = false;
    try {
      for (;;) {
        if (!lease.held || this.closing) {
          batch.forEach((m) => m.nak());
          return;
        }
        try {
          const events = await this.events(batch);
          await this.publish(events);
          batch.forEach((m) => m.ack());
          for (const e of events) this.deps.metrics.relayed.inc({ type: e.type });
          return;
        } catch (err) {
          if (!failing) this.deps.logger.error({ err, batch: batch.length, first: batch[0]?.seq }, 'relaying stored messages to the webhook stream failed; retrying the batch');
          failing = true;
          await this.pause(RETRY_MS);
        }
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** The events of a batch, in order; the members of each room read once per batch, all rooms at once. */
  private async events(batch: JsMsg[]): Promise<WebhookEvent[]> {
    const events = batch.map((m) => readQueued(m.data)).filter((e): e is WebhookEvent => e !== undefined);
    const offline = new Map<string, Promise<string[]>>();
    for (const e of events) if (e.type === 'message.stored' && !offline.has(e.room)) offline.set(e.room, this.deps.members.offline(e.room));
    // Each is awaited below; a failure fails the batch, not the process.
    for (const p of offline.values()) p.catch(() => undefined);
    const out: WebhookEvent[] = [];
    for (const event of events) {
      out.push(event);
      const members = offline.get(event.room);
      if (event.type !== 'message.stored' || !members) continue;
      const from = event.data['from'];
      const missed = (await members).filter((u) => u !== from);
      if (missed.length > 0) out.push(missedEvent(event, missed));
    }
    return out;
  }

  private async publish(events: WebhookEvent[]): Promise<void> {
    const { prefix, partitions, publisher, names } = this.deps;
    const acks = await Promise.all(events.map((e) => publisher.publish(hookSubject(prefix, partitionOf(e.room, partitions), e.room), encodeEvent(e), e.id, eventHeaders(e))));
    const wrong = acks.find((a) => a.stream !== names.stream);
    if (wrong) throw new Error(`a webhook event was acknowledged by the stream ${wrong.stream}`);
  }

  private pause(ms: number): Promise<void> {
    return this.pauses.sleep(ms);
  }

  private get closing(): boolean {
    return this.pauses.stopped;
  }
}

/** The event of a queued payload; undefined for one that sends none (the persist worker dead-letters unreadable ones). */
function readQueued(data: Uint8Array): WebhookEvent | undefined {
  try {
    const raw: unknown = JSON.parse(decoder.decode(data));
    return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? queuedEvent(raw as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
