import { connect } from 'nats';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { JetStreamQueue } from '../bus/jetstream-queue.js';
import { limitsFromConfig } from '../bus/jetstream-streams.js';
import { registerQueueMetrics } from '../bus/queue-metrics.js';
import { ConfigError, type Config } from '../config/index.js';
import { MongoMessageStore } from '../persistence/mongo-store.js';
import { reaching } from '../shared/dependency.js';
import { redactUrl, type Logger } from '../shared/logger.js';
import { PersistWorker, type PersistWorkerOptions } from './persist-worker.js';

export interface RunningWorker {
  readonly registry: Registry;
  /** Stops fetching, finishes the batch in hand, closes the store and the NATS connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The composition root of `parley worker`: NATS (the queue's streams are created if missing),
 * MongoDB, and one PersistWorker. NATS_URL and MONGODB_URL are required.
 */
export async function runWorker(config: Config, logger: Logger, options: Partial<PersistWorkerOptions> = {}): Promise<RunningWorker> {
  if (config.natsUrl === undefined) throw new ConfigError('NATS_URL', 'the persist worker needs NATS with JetStream');
  if (config.mongodbUrl === undefined) throw new ConfigError('MONGODB_URL', 'the persist worker needs MongoDB');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'parley_worker_' });

  const nats = { name: 'NATS', where: config.natsUrl };
  const mongodb = { name: 'MongoDB', where: config.mongodbUrl };
  const nc = await reaching(nats, () => connect({ servers: config.natsUrl, name: `parley-worker-${config.nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 }));
  const queue = new JetStreamQueue({ nats: nc, prefix: config.keyPrefix, logger, limits: limitsFromConfig(config.queue), persisted: true });
  registerQueueMetrics(registry, () => queue.capacity);
  const store = new MongoMessageStore({ url: config.mongodbUrl });
  const worker = new PersistWorker({ nc, prefix: config.keyPrefix, store, logger, registry, maxDeliver: config.maxDeliver, options });
  const closeAll = async (): Promise<void> => {
    await worker.close();
    await queue.close();
    await store.close();
    if (!nc.isClosed()) await nc.drain();
  };
  try {
    await reaching(nats, () => queue.start());
    await reaching(mongodb, () => store.start());
    await worker.start();
  } catch (err) {
    await closeAll().catch((closeErr: unknown) => logger.error({ err: closeErr }, 'closing after a failed worker start failed'));
    throw err;
  }
  logger.info(
    { nats: redactUrl(config.natsUrl), mongodb: redactUrl(config.mongodbUrl), database: store.databaseName, stream: queue.names.stream, consumer: queue.names.consumer },
    'persist worker started',
  );
  let closing: Promise<void> | undefined;
  return { registry, close: () => (closing ??= closeAll()) };
}
