import type { NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import { queueNames } from '../bus/jetstream-streams.js';
import { PubAckPublisher } from '../bus/pub-ack-publisher.js';
import type { WebhookConfig } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import { RoomMembers, type ReadersSource, type RosterSource } from './room-members.js';
import { WebhookAdmin } from './webhook-admin.js';
import { WebhookDelivery, type DeliveryOptions } from './webhook-delivery.js';
import { WebhookMetrics } from './webhook-metrics.js';
import { WebhookRelay, type RelayOptions } from './webhook-relay.js';
import { WebhookSender } from './webhook-sender.js';
import { ensureRelayConsumer, ensureWebhookStreams, webhookLimits, webhookNames } from './webhook-streams.js';

/** Timings of the relay and the delivery; tests shorten them. */
export interface WebhookWorkerOptions {
  relay: RelayOptions;
  /** `ackWaitMs` unset: the request timeout plus 10 s. */
  delivery: Partial<DeliveryOptions>;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookWorkerOptions = {
  relay: { leaseMs: 10_000, ackWaitMs: 10_000, batchSize: 200, fetchExpiresMs: 1_000 },
  delivery: { fetchExpiresMs: 1_000 },
};

export interface WebhookWorkerDeps {
  config: WebhookConfig;
  nc: NatsConnection;
  prefix: string;
  nodeId: string;
  /** QUEUE_MAX_BYTES and QUEUE_REPLICAS: the webhook streams take their limits from the queue's. */
  queue: { maxBytes: number; replicas: number };
  roster: RosterSource;
  readers: ReadersSource;
  registry: Registry;
  logger: Logger;
  options?: { relay?: Partial<RelayOptions>; delivery?: Partial<DeliveryOptions> };
}

export interface RunningWebhooks {
  /** Stops relaying and delivering; attempts in flight finish. Idempotent. */
  close(): Promise<void>;
}

/**
 * The webhook side of `parley worker` (WEBHOOK_URL set): the relay (stored messages to events,
 * one worker at a time) and the delivery of every partition, sharing the worker's NATS
 * connection. The queue stream must exist (JetStreamQueue.start creates it).
 */
export async function startWebhookWorker(deps: WebhookWorkerDeps): Promise<RunningWebhooks> {
  const { config, nc, prefix, logger } = deps;
  const relayOptions = { ...DEFAULT_WEBHOOK_OPTIONS.relay, ...deps.options?.relay };
  const deliveryOptions: DeliveryOptions = {
    ackWaitMs: config.timeoutMs + 10_000,
    fetchExpiresMs: 1_000,
    ...DEFAULT_WEBHOOK_OPTIONS.delivery,
    ...deps.options?.delivery,
  };
  const names = webhookNames(prefix);
  const qnames = queueNames(prefix);
  const jsm = await nc.jetstreamManager();
  await ensureWebhookStreams(jsm, names, webhookLimits(deps.queue), deps.queue.replicas, logger);
  await ensureRelayConsumer(jsm, qnames, names, prefix, relayOptions.ackWaitMs);
  const publisher = new PubAckPublisher(nc, 5_000);
  await publisher.start();
  const admin = new WebhookAdmin({ jsm, publisher, prefix, partitions: config.partitions, names, queue: qnames });
  const metrics = new WebhookMetrics(deps.registry, () => admin.summary());
  const sender = new WebhookSender({ url: config.url, secret: config.secret, timeoutMs: config.timeoutMs });
  const delivery = new WebhookDelivery({
    nc,
    prefix,
    names,
    partitions: config.partitions,
    sender,
    maxAttempts: config.maxAttempts,
    backoff: { baseMs: config.backoffMs, maxMs: config.backoffMaxMs },
    metrics,
    logger,
    options: deliveryOptions,
  });
  const relay = new WebhookRelay({
    nc,
    prefix,
    queue: qnames,
    names,
    partitions: config.partitions,
    members: new RoomMembers(deps.roster, deps.readers),
    publisher,
    metrics,
    logger,
    holder: deps.nodeId,
    replicas: deps.queue.replicas,
    options: relayOptions,
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.all([relay.close(), delivery.close()]);
      publisher.close();
      sender.close();
    })());
  try {
    await delivery.start();
    await relay.start();
  } catch (err) {
    await close();
    throw new Error(`starting the webhook worker failed: ${(err as Error).message}`, { cause: err });
  }
  logger.info({ endpoint: new URL(config.url).origin, partitions: config.partitions, maxAttempts: config.maxAttempts, stream: names.stream }, 'webhook worker started');
  return { close };
}
