import type { PubAckPublisher } from '../bus/pub-ack-publisher.js';
import type { PresenceStatus } from '../domain/presence.js';
import type { Logger } from '../shared/logger.js';
import { encodeEvent, eventHeaders, presenceEvent, type WebhookEvent } from './webhook-event.js';
import { hookSubject, partitionOf } from './webhook-streams.js';

export interface PresenceEventsOptions {
  prefix: string;
  partitions: number;
  /** The webhook stream's name: a PubAck from any other stream is a failure. */
  stream: string;
  logger: Logger;
  /** Attempts of one publish, doubling from retryMinMs (default 8 from 250 ms: about a minute). */
  attempts?: number;
  retryMinMs?: number;
  /** Events held while JetStream does not answer; past it the oldest are dropped, logged. */
  maxHeld?: number;
}

/**
 * Queues `user.online` / `user.offline` webhook events from the node that decided them. The
 * decision is the room presence's (a first join, or the expiry after the grace period of a
 * last leave, each decided by one atomic step in the presence store, on one node), so each
 * change is published once; a publish retried after a lost PubAck carries the same event id
 * and JetStream stores it once. Events are published one at a time, in the order decided, each
 * retried before the next. A node that dies between deciding and publishing loses that event.
 */
export class PresenceEvents {
  private readonly held: WebhookEvent[] = [];
  private draining: Promise<void> | undefined;
  private dropping = false;

  constructor(
    private readonly publisher: Pick<PubAckPublisher, 'publish'>,
    private readonly opts: PresenceEventsOptions,
  ) {}

  changed(room: string, user: string, status: PresenceStatus, ts: number): void {
    if (this.held.length >= (this.opts.maxHeld ?? 100_000)) {
      const dropped = this.held.shift();
      if (!this.dropping) this.opts.logger.error({ event: dropped?.id, held: this.held.length }, 'too many presence webhook events wait for JetStream: the oldest are dropped');
      this.dropping = true;
    }
    this.held.push(presenceEvent(room, user, status, ts));
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Resolves once every held event is published or given up, or after `deadlineMs`. */
  async flush(deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs).unref()));
    await Promise.race([this.draining ?? Promise.resolve(), deadline]);
    clearTimeout(timer);
  }

  private async drain(): Promise<void> {
    for (let event = this.held[0]; event !== undefined; event = this.held[0]) {
      await this.publish(event);
      if (this.held[0] === event) this.held.shift();
    }
    this.dropping = false;
  }

  private async publish(event: WebhookEvent): Promise<void> {
    const { prefix, partitions, stream, logger } = this.opts;
    const attempts = this.opts.attempts ?? 8;
    let delay = this.opts.retryMinMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.publisher.publish(hookSubject(prefix, partitionOf(event.room, partitions), event.room), encodeEvent(event), event.id, eventHeaders(event));
        if (ack.stream !== stream) throw new Error(`acknowledged by the stream ${ack.stream}`);
        if (attempt > 1) logger.info({ event: event.id, attempt }, 'queued a presence webhook event after retries');
        return;
      } catch (err) {
        if (attempt >= attempts) {
          logger.error({ err, event: event.id, attempts }, 'queueing a presence webhook event failed; it is lost');
          return;
        }
        if (attempt === 1) logger.warn({ err, event: event.id }, 'queueing a presence webhook event failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        delay *= 2;
      }
    }
  }
}
