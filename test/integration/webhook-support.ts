import type { MongoClient } from 'mongodb';
import type { NatsConnection } from 'nats';
import { queueNames } from '../../src/bus/jetstream-streams.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/logger.js';
import type { WebhookWorkerDeps } from '../../src/webhooks/webhook-worker.js';
import { webhookNames } from '../../src/webhooks/webhook-streams.js';
import { runWorker, type RunningWorker } from '../../src/worker.js';
import { requireMongo, requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { metricValue, mongoClient, MONGO_URL, natsConnection, NATS_URL } from './persist-support.js';

/** Shared by the webhook integration tests: one deployment (prefix, receiver, env) per test. */

export const WEBHOOK_SECRET = 'whsec-test-0123456789abcdef';
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Short timings for tests: a lease and ack waits of about a second. */
export const FAST_WEBHOOKS: NonNullable<WebhookWorkerDeps['options']> = {
  relay: { leaseMs: 1_500, ackWaitMs: 1_000, fetchExpiresMs: 1_000 },
  delivery: { ackWaitMs: 2_000 },
};

export interface WebhookDeployment {
  prefix: string;
  receiver: WebhookReceiver;
  /** For gateways and workers: NATS, MongoDB, Redis, the prefix and WEBHOOK_*. */
  env: Record<string, string>;
  nc: NatsConnection;
  mongo: MongoClient;
  /** A persist + webhook worker in this process, closed with the deployment. */
  worker(env?: Record<string, string>, options?: WebhookWorkerDeps['options']): Promise<RunningWorker>;
  close(): Promise<void>;
}

export async function webhookDeployment(name: string, env: Record<string, string> = {}): Promise<WebhookDeployment> {
  await Promise.all([requireNats(), requireMongo(), requireRedis()]);
  const prefix = uniquePrefix(name);
  const receiver = await WebhookReceiver.start();
  const nc = await natsConnection();
  const mongo = await mongoClient();
  const full = {
    NODE_ENV: 'test',
    NATS_URL,
    REDIS_URL,
    MONGODB_URL: `${MONGO_URL}/${prefix}`,
    KEY_PREFIX: prefix,
    QUEUE_MAX_BYTES: String(16 * 1024 * 1024),
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET,
    WEBHOOK_BACKOFF_MS: '50',
    WEBHOOK_BACKOFF_MAX_MS: '400',
    WEBHOOK_TIMEOUT_MS: '1000',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    ...env,
  };
  const workers: RunningWorker[] = [];
  return {
    prefix,
    receiver,
    env: full,
    nc,
    mongo,
    worker: async (extra = {}, options = FAST_WEBHOOKS) => {
      const { config } = loadConfig({ ...full, ...extra }, { role: 'worker' });
      const w = await runWorker(config, createLogger(config.logLevel), {}, undefined, options);
      workers.push(w);
      return w;
    },
    close: async () => {
      for (const w of workers.splice(0)) await w.close();
      await receiver.close();
      await deleteWebhookStreams(nc, prefix);
      await nc.close();
      await mongo.db(prefix).dropDatabase().catch(() => undefined);
      await mongo.close();
    },
  };
}

/** The deployment's queue, webhook and lease streams (those that exist). */
export async function deleteWebhookStreams(nc: NatsConnection, prefix: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const q = queueNames(prefix);
  const w = webhookNames(prefix);
  for (const stream of [q.stream, q.deadStream, w.stream, w.deadStream, `KV_${w.leaseBucket}`]) await jsm.streams.delete(stream).catch(() => false);
}

/** Two room names that hash to different partitions (so one's retries cannot hold the other back). */
export function roomsApart(partitionOf: (room: string) => number, base: string): [string, string] {
  const first = `${base}-a`;
  for (let i = 0; i < 100; i++) {
    const other = `${base}-b${i}`;
    if (partitionOf(other) !== partitionOf(first)) return [first, other];
  }
  throw new Error('no two rooms in different partitions');
}

export { metricValue };
