import { collectDefaultMetrics, Registry } from 'prom-client';
import { mountNotFound } from './admin/dev.js';
import { mountHealth, mountMetrics } from './admin/health.js';
import { JetStreamQueue } from './bus/jetstream-queue.js';
import { limitsFromConfig } from './bus/jetstream-streams.js';
import { connectNats, describeServers } from './bus/nats-servers.js';
import { registerQueueMetrics } from './bus/queue-metrics.js';
import { ConfigError, type Config } from './config/index.js';
import { Retention } from './domain/retention.js';
import { listen, loadUws, type us_listen_socket } from './gateway/uws.js';
import { MongoMessageStore } from './persistence/mongo-store.js';
import { RedisConnection } from './redis-connection.js';
import { RedisPresence } from './rooms/state/redis-presence.js';
import { reaching } from './shared/dependency.js';
import { redactUrl, type Logger } from './shared/logger.js';
import type { Tracer } from './shared/tracing.js';
import { startWebhookWorker, type RunningWebhooks, type WebhookWorkerDeps } from './webhooks/webhook-worker.js';
import { PersistWorker, type PersistWorkerOptions } from './workers/persist-worker.js';
import { RetentionSweep } from './workers/retention-sweep.js';

export interface RunningWorker {
  readonly registry: Registry;
  /** The port of the health and metrics listener, when ADMIN_PORT is set. */
  readonly adminPort: number | undefined;
  /** Stops fetching, finishes the batch in hand, closes the store and the NATS connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The composition root of `parley worker`: NATS (the queue's streams are created if missing),
 * MongoDB, and one PersistWorker; with WEBHOOK_URL, the webhook relay and delivery too (they
 * read presence from Redis). NATS_URL and MONGODB_URL are required. With ADMIN_PORT it serves
 * `/healthz`, `/readyz` (the queue's NATS connection; 503 once closing) and `/metrics`.
 */
export async function runWorker(config: Config, logger: Logger, options: Partial<PersistWorkerOptions> = {}, tracer?: Tracer, webhookOptions?: WebhookWorkerDeps['options']): Promise<RunningWorker> {
  if (config.natsServers === undefined) throw new ConfigError('NATS_URL', 'the persist worker needs NATS with JetStream');
  if (config.mongodbUrl === undefined) throw new ConfigError('MONGODB_URL', 'the persist worker needs MongoDB');
  const redisConfigured = config.redisUrl !== undefined || config.redisClusterNodes.length > 0;
  if (config.webhooks && !redisConfigured) throw new ConfigError('WEBHOOK_URL', 'the webhook worker needs REDIS_URL (or REDIS_CLUSTER_NODES): message.missed reads the rooms\' presence');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'parley_worker_' });

  const nats = { name: 'NATS', where: config.natsServers.join(',') };
  const mongodb = { name: 'MongoDB', where: config.mongodbUrl };
  const nc = await reaching(nats, () => connectNats(config.natsServers ?? [], `parley-worker-${config.nodeId}`));
  const queue = new JetStreamQueue({ nats: nc, prefix: config.keyPrefix, logger, limits: limitsFromConfig(config.queue), replicas: config.queue.replicas, persisted: true });
  registerQueueMetrics(registry, () => queue.capacity);
  const store = new MongoMessageStore({ url: config.mongodbUrl, retentionMs: config.retention.ms });
  const sweep = new RetentionSweep(store, new Retention(config.retention.ms), logger, { intervalMs: config.retention.sweepMs });
  const worker = new PersistWorker({ nc, prefix: config.keyPrefix, store, logger, registry, maxDeliver: config.maxDeliver, options, ...(tracer ? { tracer } : {}) });
  const redis = config.webhooks ? new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-worker-${config.nodeId}`, logger) : undefined;
  let webhooks: RunningWebhooks | undefined;
  let closing: Promise<void> | undefined;
  const uws = config.admin ? loadUws() : undefined;
  let listenSocket: us_listen_socket | undefined;
  const closeAll = async (): Promise<void> => {
    await webhooks?.close();
    await sweep.close();
    await worker.close();
    await redis?.close();
    await queue.close();
    await store.close();
    if (!nc.isClosed()) await nc.drain();
    // Last: liveness holds while the batch in hand is finished.
    if (uws && listenSocket) uws.us_listen_socket_close(listenSocket);
    listenSocket = undefined;
  };
  let adminPort: number | undefined;
  try {
    await reaching(nats, () => queue.start());
    await reaching(mongodb, () => store.start());
    await worker.start();
    if (store.retentionIndex === 'unsupported') logger.info({ database: store.databaseName }, 'the MongoDB server has no TTL indexes: this worker sweeps expired messages instead');
    sweep.start();
    if (config.webhooks && redis) {
      const redisDep = { name: 'Redis', where: config.redisClusterNodes.length > 0 ? config.redisClusterNodes.join(',') : (config.redisUrl ?? '') };
      await reaching(redisDep, () => redis.start());
      // Read only: never started, so it neither heartbeats nor reaps.
      const roster = new RedisPresence(redis.client, { prefix: config.keyPrefix, nodeId: config.nodeId, nodeTtlS: config.timing.nodeTtlS });
      webhooks = await startWebhookWorker({
        config: config.webhooks,
        nc,
        prefix: config.keyPrefix,
        nodeId: config.nodeId,
        queue: config.queue,
        roster,
        readers: store,
        registry,
        logger,
        ...(webhookOptions ? { options: webhookOptions } : {}),
      });
    }
    if (uws && config.admin) {
      const app = uws.App();
      mountHealth({ app, checks: { queue: () => queue.connected }, isDraining: () => closing !== undefined });
      mountMetrics(app, registry, logger);
      mountNotFound(app);
      const listening = await listen(uws, app, config.admin.host, config.admin.port, 'ADMIN_PORT');
      listenSocket = listening.socket;
      adminPort = listening.port;
    }
  } catch (err) {
    await closeAll().catch((closeErr: unknown) => logger.error({ err: closeErr }, 'closing after a failed worker start failed'));
    throw err;
  }
  logger.info(
    {
      nats: describeServers(config.natsServers),
      mongodb: redactUrl(config.mongodbUrl),
      database: store.databaseName,
      stream: queue.names.stream,
      consumer: queue.names.consumer,
      ...(config.retention.ms > 0 ? { retentionDays: config.retention.ms / 86_400_000, expiry: store.retentionIndex } : {}),
      ...(adminPort !== undefined ? { adminPort } : {}),
    },
    'persist worker started',
  );
  return { registry, adminPort, close: () => (closing ??= closeAll()) };
}
