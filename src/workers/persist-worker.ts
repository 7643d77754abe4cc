import type { Consumer, JetStreamClient, JsMsg, NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import { queueNames, type QueueNames } from '../bus/jetstream-streams.js';
import type { Logger } from '../shared/logger.js';
import { inBatchSpan, traceFromHeaders, type Tracer } from '../shared/tracing.js';
import { Pauses } from '../shared/pauses.js';
import { BatchWriter, type PersistTarget } from './batch-writer.js';
import { ensurePersistConsumer } from './persist-consumer.js';
import { PersistMetrics } from './persist-metrics.js';

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
  private readonly js: JetStreamClient;
  private readonly writer: BatchWriter;
  private readonly buffer: JsMsg[] = [];
  private timer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private pulling: Promise<void> | undefined;
  private flushing: Promise<void> | undefined;
  private readonly pauses = new Pauses();
  private closed: Promise<void> | undefined;

  constructor(private readonly deps: PersistWorkerDeps) {
    this.names = queueNames(deps.prefix);
    this.opts = { ...DEFAULT_WORKER_OPTIONS, ...deps.options };
    this.js = deps.nc.jetstream();
    const { store, prefix, maxDeliver, logger, tracer } = deps;
    const { nakDelaysMs, retryMinMs, retryMaxMs } = this.opts;
    const metrics = new PersistMetrics(deps.registry);
    this.writer = new BatchWriter({ store, js: this.js, names: this.names, prefix, maxDeliver, nakDelaysMs, retryMinMs, retryMaxMs, metrics, logger, pauses: this.pauses, ...(tracer ? { tracer } : {}) });
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
    this.keepAlive = setInterval(() => this.writer.held.forEach((m) => m.working()), Math.max(100, this.opts.ackWaitMs / 3));
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
      if (this.buffer.length >= 2 * this.opts.batchSize || this.writer.unreachable) {
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
    this.writer.held.add(msg);
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
      if (this.closing && this.writer.unreachable) {
        // The store is down and we are leaving: hand everything back for another worker.
        this.buffer.splice(0).forEach((m) => this.writer.settle(m, 'nak'));
        return;
      }
      const batch = this.buffer.splice(0, this.opts.batchSize);
      await inBatchSpan(this.deps.tracer, 'parley.persist.batch', batch.length, () => batch.map((m) => traceFromHeaders(m.headers)), (trace) => this.writer.process(batch, trace));
    }
  }

  /** Sleeps up to `ms`; close() cuts it short. */
  private pause(ms: number): Promise<void> {
    return this.pauses.sleep(ms);
  }

  private get closing(): boolean {
    return this.pauses.stopped;
  }
}
