import type { JetStreamClient, JsMsg } from 'nats';
import type { QueueNames } from '../bus/jetstream-streams.js';
import type { ChatMessage, ReadPointer } from '../domain/messages.js';
import { subjectOf } from '../domain/summary.js';
import type { PutResult } from '../persistence/mongo-writes.js';
import type { Logger } from '../shared/logger.js';
import type { Pauses } from '../shared/pauses.js';
import { annotate, inSpan, SpanKind, type TraceContext, type Tracer } from '../shared/tracing.js';
import { publishDeadLetter, type DeadReason } from './persist-consumer.js';
import type { PersistMetrics } from './persist-metrics.js';
import { isReadsSubject, parseQueuedMessage, parseQueuedRead, UnreadableMessageError } from './queued-message.js';

/** What the worker needs from the message store (MongoMessageStore has it). */
export interface PersistTarget {
  putChecked(messages: readonly ChatMessage[]): Promise<PutResult>;
  putReads(pointers: readonly ReadPointer[]): Promise<void>;
  /** True when the store could not be reached: the batch is held and retried, not nak-ed. */
  isTransient(err: unknown): boolean;
}

export interface BatchWriterDeps {
  store: PersistTarget;
  js: JetStreamClient;
  names: QueueNames;
  /** The deployment's key prefix (the queue's subjects derive from it). */
  prefix: string;
  /** Failed deliveries after which a message goes to the dead-letter stream (MAX_DELIVER). */
  maxDeliver: number;
  /** nak delay after a failed write, by delivery (the last entry repeats). */
  nakDelaysMs: number[];
  /** Retry delays while the store is unreachable: doubling from min to max. */
  retryMinMs: number;
  retryMaxMs: number;
  metrics: PersistMetrics;
  logger: Logger;
  /** The worker's waits: stopped on close, which ends a retry and hands the batch back. */
  pauses: Pauses;
  tracer?: Tracer;
}

/**
 * Writes the persist worker's batches to the message store and settles every message fetched:
 * ack once stored, nak with a delay after a failed write, dead letter for conflicts, unreadable
 * messages and the MAX_DELIVER-th failure. While the store is unreachable a write is retried
 * (nothing nak-ed) until it is reachable again or the worker closes.
 */
export class BatchWriter {
  /** Fetched and not settled yet: kept alive with `working()` while they wait. */
  readonly held = new Set<JsMsg>();
  private outageSince: number | undefined;

  constructor(private readonly deps: BatchWriterDeps) {}

  /** True from a write that found the store unreachable until one that reached it. */
  get unreachable(): boolean {
    return this.outageSince !== undefined;
  }

  async process(batch: JsMsg[], trace: TraceContext | undefined): Promise<void> {
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
      this.deps.metrics.conflicts.inc();
      const detail = `${c.reason}: stored seq ${c.existing.seq} from ${c.existing.from} cid ${c.existing.cid}`;
      dead.push(this.deadLetter(byMessage.get(c.message) as JsMsg, 'conflict', detail, c.message.room));
    }
    for (const r of outcome.rejected) {
      notStored.add(r.message);
      this.deps.metrics.failures.inc({ kind: 'rejected' });
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
    this.deps.metrics.persisted.inc(acked);
    this.deps.metrics.batches.inc();
  }

  /** Writes, retrying for as long as the store is unreachable; an Error for any other failure. */
  private async untilReachable<T>(write: () => Promise<T>, size: number): Promise<T | Error | 'closing'> {
    let delay = this.deps.retryMinMs;
    for (;;) {
      const end = this.deps.metrics.batchSeconds.startTimer();
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
          this.deps.metrics.failures.inc({ kind: 'error' });
          return err instanceof Error ? err : new Error(String(err));
        }
        this.deps.metrics.failures.inc({ kind: 'transient' });
        if (this.outageSince === undefined) {
          this.outageSince = Date.now();
          this.deps.logger.error({ err, batch: size }, 'the message store is unreachable; holding the batch and retrying');
        }
        if (this.deps.pauses.stopped) return 'closing';
        await this.deps.pauses.sleep(delay);
        delay = Math.min(delay * 2, this.deps.retryMaxMs);
      }
    }
  }

  /** A failed delivery: nak with the delay for this delivery, or dead-letter the last one. */
  private failed(msg: JsMsg, detail: string): Promise<void> {
    const delivery = msg.info.deliveryCount;
    if (delivery >= this.deps.maxDeliver) return this.deadLetter(msg, 'max-deliver', `failed ${delivery} times, last: ${detail}`);
    const delays = this.deps.nakDelaysMs;
    this.settle(msg, 'nak', delays[Math.min(delivery, delays.length) - 1] ?? 0);
    return Promise.resolve();
  }

  /** Moves the message to the dead-letter stream, then terms it; naks it if that fails. */
  private async deadLetter(msg: JsMsg, reason: DeadReason, detail: string, room?: string): Promise<void> {
    try {
      await publishDeadLetter(this.deps.js, this.deps.prefix, this.deps.names, msg, reason, detail, room);
    } catch (err) {
      this.deps.logger.error({ err, reason, subject: msg.subject, streamSeq: msg.seq }, 'dead-lettering a message failed; it is nak-ed');
      this.settle(msg, 'nak', this.deps.nakDelaysMs[0] ?? 0);
      return;
    }
    this.settle(msg, 'term');
    this.deps.metrics.deadLettered.inc({ reason });
    this.deps.logger.warn({ reason, detail, subject: msg.subject, streamSeq: msg.seq }, 'message moved to the dead-letter stream');
  }

  /** Acks, naks or terms a message; it is no longer held. */
  settle(msg: JsMsg, how: 'ack' | 'nak' | 'term', delayMs?: number): void {
    this.held.delete(msg);
    if (how === 'nak') msg.nak(delayMs);
    else msg[how]();
  }
}
