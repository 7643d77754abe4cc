import { headers, type Consumer, type JetStreamClient, type JsMsg, type NatsConnection } from 'nats';
import type { Logger } from '../shared/logger.js';
import { Pauses } from '../shared/pauses.js';
import { DEAD_HEADERS, eventHeaders, readEventHeaders, type EventHead } from './webhook-event.js';
import type { WebhookMetrics } from './webhook-metrics.js';
import type { SendMeta, SendOutcome } from './webhook-sender.js';
import { ensurePartitionConsumers, existingPartitions, hookDeadSubject, type WebhookNames } from './webhook-streams.js';

export interface DeliveryOptions {
  /**
   * The partition consumers' ack wait: how long an event a dead worker held waits before another
   * attempt. Above the request timeout, so a slow answer is not attempted twice at once.
   */
  ackWaitMs: number;
  /** How long one pull waits for an event; close() waits for the pulls in progress. */
  fetchExpiresMs: number;
}

export interface DeliveryDeps {
  nc: NatsConnection;
  prefix: string;
  names: WebhookNames;
  partitions: number;
  sender: { send(body: Uint8Array, meta: SendMeta): Promise<SendOutcome> };
  /** WEBHOOK_MAX_ATTEMPTS */
  maxAttempts: number;
  /** WEBHOOK_BACKOFF_MS and WEBHOOK_BACKOFF_MAX_MS */
  backoff: { baseMs: number; maxMs: number };
  metrics: WebhookMetrics;
  logger: Logger;
  options: DeliveryOptions;
}

export type DeadReason = 'max-attempts' | 'unreadable';

/** The delay before attempt `attempt + 1`: doubling from the base, capped. */
export function backoffMs(attempt: number, backoff: { baseMs: number; maxMs: number }): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt - 1, 40));
}

/**
 * Delivers the events of every partition: a loop per partition pulls its one event in flight,
 * POSTs it, then acks it (2xx), naks it with the backoff delay (the partition waits that long:
 * later events of its rooms must not overtake it), or after WEBHOOK_MAX_ATTEMPTS moves it to the
 * dead-letter stream. Attempts are JetStream's delivery count, so a worker killed mid-request
 * costs one attempt and the event is retried by whichever worker pulls next, after the ack wait.
 */
export class WebhookDelivery {
  private readonly js: JetStreamClient;
  private loops: Promise<void>[] = [];
  private readonly pauses = new Pauses();
  private closed: Promise<void> | undefined;

  constructor(private readonly deps: DeliveryDeps) {
    this.js = deps.nc.jetstream();
  }

  async start(): Promise<void> {
    const { nc, names, prefix, partitions, options } = this.deps;
    const jsm = await nc.jetstreamManager();
    await ensurePartitionConsumers(jsm, names, prefix, partitions, options.ackWaitMs);
    // Partitions of an earlier, larger WEBHOOK_PARTITIONS are drained too.
    const all = new Set([...Array.from({ length: partitions }, (_, p) => p), ...(await existingPartitions(jsm, names))]);
    for (const p of all) {
      const consumer = await this.js.consumers.get(names.stream, names.partitionConsumer(p));
      this.loops.push(this.loop(p, consumer));
    }
  }

  /** Stops pulling; an attempt in flight finishes (at most the request timeout) and is settled. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.pauses.stop();
      await Promise.all(this.loops);
    })();
    return this.closed;
  }

  private async loop(partition: number, consumer: Consumer): Promise<void> {
    let failing = false;
    while (!this.closing) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: this.deps.options.fetchExpiresMs });
        if (failing) this.deps.logger.info({ partition }, 'pulling webhook events works again');
        failing = false;
      } catch (err) {
        if (!failing) this.deps.logger.error({ err, partition }, 'pulling webhook events failed; retrying');
        failing = true;
        await this.pause(1_000);
        continue;
      }
      if (msg) await this.handle(msg).catch((err: unknown) => this.deps.logger.error({ err, partition, streamSeq: msg.seq }, 'handling a webhook event failed; it is retried after the ack wait'));
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    const { maxAttempts, metrics, logger } = this.deps;
    const attempt = msg.info.deliveryCount;
    const head = readEventHeaders(msg.headers);
    if (head === undefined) return this.deadLetter(msg, undefined, attempt, 'unreadable', 'the event has no Parley-Event-* headers');
    // Delivered before but never settled (workers died mid-request) as often as allowed.
    if (attempt > maxAttempts) return this.deadLetter(msg, head, attempt - 1, 'max-attempts', `${attempt - 1} attempts without an answer recorded`);
    const outcome = await this.deps.sender.send(msg.data, { id: head.id, type: head.type, attempt });
    metrics.requestSeconds.observe(outcome.ms / 1000);
    if (outcome.ok) {
      msg.ack();
      metrics.delivered.inc({ type: head.type });
      metrics.lagSeconds.observe(Math.max(0, Date.now() - head.ts) / 1000);
      return;
    }
    metrics.failedAttempts.inc({ type: head.type });
    if (attempt >= maxAttempts) return this.deadLetter(msg, head, attempt, 'max-attempts', outcome.error);
    const delay = backoffMs(attempt, this.deps.backoff);
    msg.nak(delay);
    metrics.retried.inc({ type: head.type });
    logger.warn({ event: head.id, type: head.type, room: head.room, attempt, error: outcome.error, retryInMs: delay }, 'a webhook attempt failed; retrying');
  }

  /** Moves the event to the dead-letter stream, then acks it; naks it when that fails. */
  private async deadLetter(msg: JsMsg, head: EventHead | undefined, attempts: number, reason: DeadReason, detail: string): Promise<void> {
    const { prefix, names, metrics, logger } = this.deps;
    const h = headers();
    for (const [k, v] of Object.entries(head ? eventHeaders(head) : {})) h.set(k, v);
    h.set(DEAD_HEADERS.attempts, String(attempts));
    h.set(DEAD_HEADERS.reason, reason);
    h.set(DEAD_HEADERS.detail, detail.replace(/[\r\n]+/g, ' ').slice(0, 1024));
    h.set(DEAD_HEADERS.failedAt, new Date().toISOString());
    try {
      await this.js.publish(hookDeadSubject(prefix, head?.room), msg.data, { msgID: `dead:${msg.seq}`, headers: h, expect: { streamName: names.deadStream } });
    } catch (err) {
      logger.error({ err, event: head?.id, reason, streamSeq: msg.seq }, 'dead-lettering a webhook event failed; it is retried');
      msg.nak(this.deps.backoff.baseMs);
      return;
    }
    msg.ack();
    metrics.deadLettered.inc({ type: head?.type ?? 'unknown', reason });
    logger.error({ event: head?.id, type: head?.type, room: head?.room, attempts, reason, error: detail }, 'webhook event dead-lettered: replay it with POST /admin/webhooks/failed/:seq/replay');
  }

  private pause(ms: number): Promise<void> {
    return this.pauses.sleep(ms);
  }

  private get closing(): boolean {
    return this.pauses.stopped;
  }
}
