import type { Consumer, JetStreamClient, JsMsg, NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import { queueNames, type QueueNames } from '../bus/jetstream-streams.js';
import type { PutResult } from '../persistence/mongo-writes.js';
import type { ChatMessage, ReadPointer } from '../domain/messages.js';
import { subjectOf } from '../domain/summary.js';
import type { Logger } from '../shared/logger.js';
import { annotate, inBatchSpan, inSpan, SpanKind, traceFromHeaders, type TraceContext, type Tracer } from '../shared/tracing.js';
import { Pauses } from '../shared/pauses.js';
import { ensurePersistConsumer, publishDeadLetter, type DeadReason } from './persist-consumer.js';
import { PersistMetrics } from './persist-metrics.js';
import { isReadsSubject, parseQueuedMessage, parseQueuedRead, UnreadableMessageError } from './queued-message.js';

/** What the worker needs from the message store (MongoMessageStore has it). */
export interface PersistTarget {
  putChecked(messages: readonly ChatMessage[]): Promise<PutResult>;
  putReads(pointers: readonly ReadPointer[]): Promise<void>;
  /** True when the store could not be reached: the batch is held and retried, not nak-ed. */
  isTransient(err: unknown): boolean;
}

export interface PersistWorkerOptions {
  /** A batch is written once it has this many messages... */
  batchSize: number;
  /** ...or this long after its first message arrived. */
  batchMs: number;
  /** The consumer's ack wait: how long a dead worker's messages wait before redelivery. */
  ackWaitMs: number;
  /** nak delay after a failed write, by delivery (the last entry repeats). */
  nakDelaysMs: number[];
  /** Retry delays while the store is unreachable: doubling from min to max. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Un-acked messages across all workers before JetStream stops delivering (back-pressure). */
  maxAckPending: number;
  /** How long one pull request waits for messages (nats.js minimum 1 s); close() waits for it. */
  fetchExpiresMs: number;
}

export const DEFAULT_WORKER_OPTIONS: PersistWorkerOptions = {
  batchSize: 500,
  batchMs: 50,
  ackWaitMs: 30_000,
  nakDelaysMs: [1_000, 5_000, 15_000, 30_000, 60_000],
  retryMinMs: 250,
  retryMaxMs: 5_000,
  maxAckPending: 5_000,
  fetchExpiresMs: 1_000,
};

export interface PersistWorkerDeps {
  nc: NatsConnection;
  /** The deployment's key prefix (the queue's stream and subjects derive from it). */
  prefix: string;
  store: PersistTarget;
  logger: Logger;
  registry: Registry;
  /** Failed deliveries after which a message goes to the dead-letter stream (MAX_DELIVER). */
  maxDeliver: number;
  options?: Partial<PersistWorkerOptions>;
  /** Set while tracing is on: a span per batch, joined to the sends' traces, and per store write. */
  tracer?: Tracer;
}

/**
 * Moves queued messages into the message store: a durable pull consumer `<prefix>_persist`
 * shared by every worker, batches of `batchSize` or `batchMs`, one idempotent write per batch,
 * then an ack per message. The streams must exist (JetStreamQueue.start creates them).
 *
 * Failures: while the store is unreachable the batch is held and retried (its messages kept
 * alive with `working()`, nothing nak-ed, so an outage spends no deliveries and the backlog
 * waits in the stream); any other write failure naks with a delay, and the MAX_DELIVER-th
 * failure moves the message to the dead-letter stream. Conflicts and unreadable messages go
 * there at once. The consumer allows one delivery more than MAX_DELIVER: a message whose
 * deliveries ran out while workers crashed is dead-lettered on that extra one, unprocessed.
 */
export class PersistWorker {
  private readonly names: QueueNames;
  private readonly opts: PersistWorkerOptions;
  private readonly metrics: PersistMetrics;
  private readonly js: JetStreamClient;
  private readonly buffer: JsMsg[] = [];
  private readonly held = new Set<JsMsg>();
  private timer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private pulling: Promise<void> | undefined;
  private flushing: Promise<void> | undefined;
  private outageSince: number | undefined;
  private readonly pauses = new Pauses();
  private closed: Promise<void> | undefined;

  constructor(private readonly deps: PersistWorkerDeps) {
    this.names = queueNames(deps.prefix);
    this.opts = { ...DEFAULT_WORKER_OPTIONS, ...deps.options };
    this.metrics = new PersistMetrics(deps.registry);
    this.js = deps.nc.jetstream();
  }

  async start(): Promise<void> {
    if (this.pulling || this.closing) return;
    let consumer: Consumer;
    try {
      const settings = { ackWaitMs: this.opts.ackWaitMs, maxDeliver: this.deps.maxDeliver, maxAckPending: this.opts.maxAckPending };
      await ensurePersistConsumer(await this.deps.nc.jetstreamManager(), this.names, settings);
      consumer = await this.js.consumers.get(this.names.stream, this.names.consumer);
    } catch (err) {
      throw new Error(`starting the persist consumer ${this.names.consumer} on ${this.names.stream} failed: ${(err as Error).message}`, { cause: err });
    }
    this.keepAlive = setInterval(() => this.held.forEach((m) => m.working()), Math.max(100, this.opts.ackWaitMs / 3));
    this.pulling = this.pull(consumer);
  }

  /** Stops fetching, writes what was fetched (unless the store is down: then hands it back), flushes the acks. */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    this.pauses.stop();
    // The pull in progress runs out (at most fetchExpiresMs): stopping it early would drop
    // messages already on their way, left un-acked until their ack wait.
    await this.pulling;
    this.kick();
    await this.flushing;
    clearInterval(this.keepAlive);
    if (!this.deps.nc.isClosed()) await this.deps.nc.flush();
  }

  /** One pull request at a time; none while the buffer is full or the store is unreachable. */
  private async pull(consumer: Consumer): Promise<void> {
    let failing = false;
    while (!this.closing) {
      if (this.buffer.length >= 2 * this.opts.batchSize || this.outageSince !== undefined) {
        await this.pause(this.opts.batchMs);
        continue;
      }
      try {
        const messages = await consumer.fetch({ max_messages: this.opts.batchSize, expires: this.opts.fetchExpiresMs });
        for await (const msg of messages) this.received(msg);
        failing = false;
      } catch (err) {
        if (!failing) this.deps.logger.error({ err, consumer: this.names.consumer }, 'fetching from the persist consumer failed; retrying');
        failing = true;
        await this.pause(this.opts.retryMaxMs);
      }
    }
  }

  private received(msg: JsMsg): void {
    this.held.add(msg);
    this.buffer.push(msg);
    if (this.buffer.length >= this.opts.batchSize) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.opts.batchMs);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flushing) return;
    this.flushing = this.flushAll()
      .catch((err: unknown) => this.deps.logger.error({ err, consumer: this.names.consumer }, 'the persist loop failed'))
      .finally(() => {
        this.flushing = undefined;
        if (this.buffer.length > 0) this.kick();
      });
  }

  private async flushAll(): Promise<void> {
    while (this.buffer.length > 0) {
      if (this.closing && this.outageSince !== undefined) {
        // The store is down and we are leaving: hand everything back for another worker.
        this.buffer.splice(0).forEach((m) => this.settle(m, 'nak'));
        return;
      }
      const batch = this.buffer.splice(0, this.opts.batchSize);
      await inBatchSpan(this.deps.tracer, 'parley.persist.batch', batch.length, () => batch.map((m) => traceFromHeaders(m.headers)), (trace) => this.process(batch, trace));
    }
  }

  /** Sleeps up to `ms`; close() cuts it short. */
  private pause(ms: number): Promise<void> {
    return this.pauses.sleep(ms);
  }

  private get closing(): boolean {
    return this.pauses.stopped;
  }

  private async process(batch: JsMsg[], trace: TraceContext | undefined): Promise<void> {
    const byMessage = new Map<ChatMessage, JsMsg>();
    const byRead = new Map<ReadPointer, JsMsg>();
    const dead: Promise<void>[] = [];
    for (const msg of batch) {
      if (msg.info.deliveryCount > this.deps.maxDeliver) {
        dead.push(this.deadLetter(msg, 'max-deliver', `delivered ${msg.info.deliveryCount} times`));
        continue;
      }
      try {
        if (isReadsSubject(msg.subject, this.deps.prefix)) byRead.set(parseQueuedRead(msg.data, msg.subject, this.deps.prefix), msg);
        else byMessage.set(parseQueuedMessage(msg.data, msg.subject, this.deps.prefix), msg);
      } catch (err) {
        const room = err instanceof UnreadableMessageError ? err.room : undefined;
        dead.push(this.deadLetter(msg, 'unparseable', (err as Error).message, room));
      }
    }
    if (byMessage.size > 0) await this.write(byMessage, dead, trace);
    if (byRead.size > 0) await this.writeReads(byRead, dead);
    await Promise.all(dead);
  }

  /** Read pointers only ever rise ($max): any order and any repeat store the same. */
  private async writeReads(byRead: Map<ReadPointer, JsMsg>, dead: Promise<void>[]): Promise<void> {
    const outcome = await this.untilReachable(() => this.deps.store.putReads([...byRead.keys()]), byRead.size);
    if (outcome === 'closing') {
      byRead.forEach((msg) => this.settle(msg, 'nak'));
      return;
    }
    if (outcome instanceof Error) {
      this.deps.logger.error({ err: outcome, batch: byRead.size }, 'persisting read pointers failed; they are nak-ed');
      byRead.forEach((msg) => dead.push(this.failed(msg, outcome.message)));
      return;
    }
    byRead.forEach((msg) => this.settle(msg, 'ack'));
  }

  private async write(byMessage: Map<ChatMessage, JsMsg>, dead: Promise<void>[], trace: TraceContext | undefined): Promise<void> {
    const messages = [...byMessage.keys()];
    const put = (span: TraceContext | undefined) => {
      if (span) annotate(span, { 'db.system.name': 'mongodb', 'db.operation.name': 'bulkWrite', 'db.collection.name': 'messages', 'parley.messages': messages.length });
      return this.deps.store.putChecked(messages);
    };
    const outcome = await this.untilReachable(() => inSpan(this.deps.tracer, 'parley.mongo.write', SpanKind.CLIENT, trace, undefined, undefined, put), messages.length);
    if (outcome === 'closing') {
      byMessage.forEach((msg) => this.settle(msg, 'nak'));
      return;
    }
    if (outcome instanceof Error) {
      const first = messages[0];
      this.deps.logger.error({ err: outcome, batch: messages.length, first: `${first?.room}:${first?.seq}` }, 'persisting a batch failed; its messages are nak-ed');
      byMessage.forEach((msg) => dead.push(this.failed(msg, outcome.message)));
      return;
    }
    const notStored = new Set<ChatMessage>();
    for (const c of outcome.conflicts) {
      notStored.add(c.message);
      this.metrics.conflicts.inc();
      const detail = `${c.reason}: stored seq ${c.existing.seq} from ${c.existing.from} cid ${c.existing.cid}`;
      dead.push(this.deadLetter(byMessage.get(c.message) as JsMsg, 'conflict', detail, c.message.room));
    }
    for (const r of outcome.rejected) {
      notStored.add(r.message);
      this.metrics.failures.inc({ kind: 'rejected' });
      this.deps.logger.error({ err: r.error, message: `${r.message.room}:${r.message.seq}` }, 'the message store refused a message');
      dead.push(this.failed(byMessage.get(r.message) as JsMsg, r.error.message));
    }
    // A change or reply whose message is not stored yet (queued out of order) is tried again later.
    for (const m of outcome.unfolded) {
      notStored.add(m);
      dead.push(this.failed(byMessage.get(m) as JsMsg, `message ${m.room}:${subjectOf(m) ?? 0} is not stored yet`));
    }
    let acked = 0;
    for (const [message, msg] of byMessage) {
      if (notStored.has(message)) continue;
      this.settle(msg, 'ack');
      acked++;
    }
    this.metrics.persisted.inc(acked);
    this.metrics.batches.inc();
  }

  /** Writes, retrying for as long as the store is unreachable; an Error for any other failure. */
  private async untilReachable<T>(write: () => Promise<T>, size: number): Promise<T | Error | 'closing'> {
    let delay = this.opts.retryMinMs;
    for (;;) {
      const end = this.metrics.batchSeconds.startTimer();
      try {
        const result = await write();
        end();
        if (this.outageSince !== undefined) {
          this.deps.logger.info({ downMs: Date.now() - this.outageSince }, 'the message store is reachable again');
          this.outageSince = undefined;
        }
        return result;
      } catch (err) {
        if (!this.deps.store.isTransient(err)) {
          this.metrics.failures.inc({ kind: 'error' });
          return err instanceof Error ? err : new Error(String(err));
        }
        this.metrics.failures.inc({ kind: 'transient' });
        if (this.outageSince === undefined) {
          this.outageSince = Date.now();
          this.deps.logger.error({ err, batch: size }, 'the message store is unreachable; holding the batch and retrying');
        }
        if (this.closing) return 'closing';
        await this.pause(delay);
        delay = Math.min(delay * 2, this.opts.retryMaxMs);
      }
    }
  }

  /** A failed delivery: nak with the delay for this delivery, or dead-letter the last one. */
  private failed(msg: JsMsg, detail: string): Promise<void> {
    const delivery = msg.info.deliveryCount;
    if (delivery >= this.deps.maxDeliver) return this.deadLetter(msg, 'max-deliver', `failed ${delivery} times, last: ${detail}`);
    const delays = this.opts.nakDelaysMs;
    this.settle(msg, 'nak', delays[Math.min(delivery, delays.length) - 1] ?? 0);
    return Promise.resolve();
  }

  /** Moves the message to the dead-letter stream, then terms it; naks it if that fails. */
  private async deadLetter(msg: JsMsg, reason: DeadReason, detail: string, room?: string): Promise<void> {
    try {
      await publishDeadLetter(this.js, this.deps.prefix, this.names, msg, reason, detail, room);
    } catch (err) {
      this.deps.logger.error({ err, reason, subject: msg.subject, streamSeq: msg.seq }, 'dead-lettering a message failed; it is nak-ed');
      this.settle(msg, 'nak', this.opts.nakDelaysMs[0] ?? 0);
      return;
    }
    this.settle(msg, 'term');
    this.metrics.deadLettered.inc({ reason });
    this.deps.logger.warn({ reason, detail, subject: msg.subject, streamSeq: msg.seq }, 'message moved to the dead-letter stream');
  }

  private settle(msg: JsMsg, how: 'ack' | 'nak' | 'term', delayMs?: number): void {
    this.held.delete(msg);
    if (how === 'nak') msg.nak(delayMs);
    else msg[how]();
  }
}
