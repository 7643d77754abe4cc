import type { NatsConnection } from 'nats';
import { queueNames } from '../bus/jetstream-streams.js';
import { connectNats, type NatsServers } from '../bus/nats-servers.js';
import { PubAckPublisher } from '../bus/pub-ack-publisher.js';
import type { WebhookConfig } from '../config/index.js';
import type { PresenceStatus } from '../domain/presence.js';
import type { Lifecycle } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { PresenceEvents } from './presence-events.js';
import { WebhookAdmin } from './webhook-admin.js';
import { ensureRelayConsumer, ensureWebhookStreams, webhookLimits, webhookNames } from './webhook-streams.js';

export interface GatewayWebhooksOptions {
  nats: NatsServers;
  prefix: string;
  nodeId: string;
  config: WebhookConfig;
  /** QUEUE_MAX_BYTES and QUEUE_REPLICAS: the webhook streams take their limits from the queue's. */
  queue: { maxBytes: number; replicas: number };
  logger: Logger;
}

/** The relay consumer's ack wait when a gateway creates it (the workers set theirs). */
export const DEFAULT_RELAY_ACK_WAIT_MS = 10_000;
const FLUSH_ON_CLOSE_MS = 2_000;

/**
 * A gateway's side of webhooks (WEBHOOK_URL set): it creates the webhook streams and the relay
 * consumer (so messages stored before any worker started are relayed), queues the presence
 * events this node decides, and answers the admin API's webhook routes. Its own NATS connection.
 */
export class GatewayWebhooks implements Lifecycle {
  private nc: NatsConnection | undefined;
  private publisher: PubAckPublisher | undefined;
  private events: PresenceEvents | undefined;
  private adminApi: WebhookAdmin | undefined;
  private closed = false;

  constructor(private readonly opts: GatewayWebhooksOptions) {}

  /** For the admin routes; throws before start(). */
  get admin(): WebhookAdmin {
    if (!this.adminApi) throw new Error('webhooks are not started');
    return this.adminApi;
  }

  async start(): Promise<void> {
    if (this.nc) return;
    const { prefix, config, queue, logger } = this.opts;
    const nc = await connectNats(this.opts.nats, `parley-webhooks-${this.opts.nodeId}`);
    try {
      const jsm = await nc.jetstreamManager();
      const names = webhookNames(prefix);
      const qnames = queueNames(prefix);
      await ensureWebhookStreams(jsm, names, webhookLimits(queue), queue.replicas, logger);
      await ensureRelayConsumer(jsm, qnames, names, prefix, DEFAULT_RELAY_ACK_WAIT_MS, { update: false });
      const publisher = new PubAckPublisher(nc, 5_000);
      await publisher.start();
      this.publisher = publisher;
      this.events = new PresenceEvents(publisher, { prefix, partitions: config.partitions, stream: names.stream, logger });
      this.adminApi = new WebhookAdmin({ jsm, publisher, prefix, partitions: config.partitions, names, queue: qnames });
    } catch (err) {
      this.publisher?.close();
      await nc.close();
      throw new Error(`setting up the webhook streams failed: ${(err as Error).message}`, { cause: err });
    }
    this.nc = nc;
  }

  /** Publishes what is still held (at most a couple of seconds), then closes the connection. */
  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.closed = true;
    if (!nc) return;
    await this.events?.flush(FLUSH_ON_CLOSE_MS);
    this.publisher?.close();
    if (!nc.isClosed()) await nc.drain().catch((err: unknown) => this.opts.logger.error({ err }, 'draining the webhook NATS connection failed'));
  }

  /** A user went online or offline in a room, decided by this node. */
  presenceChanged(room: string, user: string, status: PresenceStatus, ts: number): void {
    if (this.events && !this.closed) this.events.changed(room, user, status, ts);
    else this.opts.logger.warn({ room, user, status }, `a presence change while the webhooks are ${this.closed ? 'closed' : 'not started'}: no webhook event for it`);
  }
}
