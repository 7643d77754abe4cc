import { createAdapter } from '@socket.io/redis-adapter';
import type { Registry } from 'prom-client';
import type { Adapters } from './node.js';
import type { Config } from './config/index.js';
import { ConfigError } from './config/index.js';
import type { Broadcast } from './bus/broadcast.js';
import { MemoryBroadcast } from './bus/memory-broadcast.js';
import { MemoryQueue } from './bus/memory-queue.js';
import { NatsBroadcast } from './bus/nats-broadcast.js';
import { RedisBroadcast } from './bus/redis-broadcast.js';
import { MemoryMessageStore } from './persistence/memory-store.js';
import { MemoryPresence } from './rooms/state/memory-presence.js';
import { MemoryAddressSlots } from './rooms/state/address-slots.js';
import { MemoryRoomState } from './rooms/state/memory-room-state.js';
import { MemoryRateLimiter } from './rooms/state/rate-limiter.js';
import { RedisAddressSlots } from './rooms/state/redis-address-slots.js';
import { RedisModeration } from './rooms/state/redis-moderation.js';
import { RedisPresence } from './rooms/state/redis-presence.js';
import { RedisRateLimiter } from './rooms/state/redis-rate-limiter.js';
import type { DurablePosition } from './domain/durable-position.js';
import { RedisRoomState } from './rooms/state/redis-room-state.js';
import { RedisDedupeErasure } from './rooms/state/redis-dedupe-erasure.js';
import { RecentRetention } from './rooms/state/redis-retention.js';
import type { DurableQueue } from './bus/durable-queue.js';
import { JetStreamQueue } from './bus/jetstream-queue.js';
import { limitsFromConfig } from './bus/jetstream-streams.js';
import { registerQueueMetrics } from './bus/queue-metrics.js';
import { CombinedPosition } from './persistence/durable-position.js';
import type { ErasableStore } from './persistence/erasable-store.js';
import type { MessageStore } from './persistence/message-store.js';
import { MongoMessageStore } from './persistence/mongo-store.js';
import { NoLongTermStore } from './persistence/no-store.js';
import { RedisConnection } from './redis-connection.js';
import type { Dependency } from './shared/dependency.js';
import type { Lifecycle } from './shared/lifecycle.js';
import type { Logger } from './shared/logger.js';
import type { Tracer } from './shared/tracing.js';
import { GatewayWebhooks } from './webhooks/gateway-webhooks.js';

/** Chooses the adapters for the configured mode (README.md, "Modes"). */
export function buildAdapters(config: Config, logger: Logger, tracer?: Tracer): Adapters {
  const redisConfigured = config.redisUrl !== undefined || config.redisClusterNodes.length > 0;
  if (!redisConfigured) {
    if (config.natsServers !== undefined) throw new ConfigError('NATS_URL', 'needs REDIS_URL (or REDIS_CLUSTER_NODES) for room state');
    if (config.mongodbUrl !== undefined) throw new ConfigError('MONGODB_URL', 'needs REDIS_URL and NATS_URL');
    return embedded(config);
  }
  if (config.mongodbUrl !== undefined && config.natsServers === undefined) {
    throw new ConfigError('MONGODB_URL', 'needs NATS_URL: messages reach MongoDB through the JetStream queue and the workers');
  }
  const redis = new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-${config.nodeId}`, logger, { probe: true, pipeline: true });
  // Presence (registrations, joins, the reaper of a dead node's entries) gets a connection of
  // its own: Redis answers one connection's commands in order, so a reconnect storm's or a
  // reaper's thousands of calls on the room state's connection would hold every send back.
  const presenceRedis = new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-${config.nodeId}-presence`, logger, { probe: true, pipeline: true });
  const extra = [redis, presenceRedis];
  const prefix = config.keyPrefix;
  const { queue, store, durable, queueCheck } = persistence(config, logger);
  let bus: Broadcast & { connected: boolean };
  if (config.bus === 'nats' && config.natsServers !== undefined) {
    bus = new NatsBroadcast(config.natsServers, prefix, config.nodeId, logger, tracer);
  } else {
    const pub = new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-${config.nodeId}-pub`, logger);
    const sub = new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-${config.nodeId}-sub`, logger, { shardedSubscribers: true });
    extra.push(pub, sub);
    bus = new RedisBroadcast(pub.client, sub.client, prefix, config.nodeId, logger, tracer);
  }
  // Socket.IO's own cluster operations (fetchSockets, serverSideEmit, non-local emits) over
  // Redis; room events never take this path (Fanout emits with `local`).
  const sioPub = new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-${config.nodeId}-sio-pub`, logger, { queueWhileDown: true });
  const sioSub = new RedisConnection(config.redisUrl, config.redisClusterNodes, `parley-${config.nodeId}-sio-sub`, logger, { queueWhileDown: true });
  extra.push(sioPub, sioSub);
  const state = new RedisRoomState(redis.client, { prefix, recentMax: config.recentMax, usersShown: config.reactions.usersShown, ...(durable ? { durable } : {}) });
  const presence = new RedisPresence(presenceRedis.client, {
    prefix,
    nodeId: config.nodeId,
    nodeTtlS: config.timing.nodeTtlS,
    graceS: config.timing.presenceGraceS,
    onError: (err) => logger.error({ err }, 'presence heartbeat or reaper failed'),
    onNodeReaped: (node) => logger.info({ reaped: node }, 'reaped the presence entries of a dead node'),
  });
  const webhooks = config.webhooks && config.natsServers
    ? new GatewayWebhooks({ nats: config.natsServers, prefix, nodeId: config.nodeId, config: config.webhooks, queue: config.queue, logger })
    : undefined;
  // Per-address limits are admission's work: on presence's connection, away from the sends.
  const slots =
    config.policy.maxConnsPerAddress > 0
      ? new RedisAddressSlots(presenceRedis.client, { prefix, nodeId: config.nodeId, nodeTtlS: config.timing.nodeTtlS, onError: (err) => logger.error({ err }, 'address slots heartbeat or reaper failed') })
      : undefined;
  const dependencies = new Map<Lifecycle, Dependency>();
  const redisDep = { name: 'Redis', where: config.redisClusterNodes.length > 0 ? config.redisClusterNodes.join(',') : (config.redisUrl ?? '') };
  for (const c of [...extra, state, presence, ...(slots ? [slots] : [])]) dependencies.set(c, redisDep);
  if (config.natsServers !== undefined) {
    const natsDep = { name: 'NATS', where: config.natsServers.join(',') };
    dependencies.set(queue, natsDep);
    if (webhooks) dependencies.set(webhooks, natsDep);
    if (bus instanceof NatsBroadcast) dependencies.set(bus, natsDep);
  }
  if (config.mongodbUrl !== undefined) dependencies.set(store, { name: 'MongoDB', where: config.mongodbUrl });
  const sweep = new RecentRetention({ redis: redis.client, prefix, retentionMs: config.retention.ms, intervalMs: config.retention.sweepMs, logger });
  return {
    state,
    presence,
    bus,
    queue,
    store,
    moderation: new RedisModeration(redis.client, prefix),
    limiters: { sends: new RedisRateLimiter(redis.client, prefix), handshakes: new RedisRateLimiter(presenceRedis.client, prefix) },
    ...(slots ? { slots } : {}),
    timers: [sweep],
    dedupe: new RedisDedupeErasure(redis.client, prefix),
    // MongoDB is left out on purpose: while it is down chat goes on and the queue holds the backlog.
    checks: { redis: () => extra.every((c) => c.ready), bus: () => bus.connected, ...(queueCheck ? { queue: queueCheck } : {}) },
    extra,
    sioAdapter: createAdapter(sioPub.client, sioSub.client, { key: `${prefix}:sio` }),
    ...(queue instanceof JetStreamQueue ? { instrument: (registry: Registry) => registerQueueMetrics(registry, () => queue.capacity) } : {}),
    dependencies,
    ...(webhooks ? { webhooks } : {}),
  };
}

/**
 * The durable side of a cluster mode: with NATS, JetStream carries accepted messages to the
 * workers and a lost room is restored from it (and from MongoDB when the gateway can read it);
 * with Redis alone, messages live in a bounded memory store and a lost room starts a new epoch.
 */
function persistence(config: Config, logger: Logger): { queue: DurableQueue; store: MessageStore & ErasableStore; durable?: DurablePosition; queueCheck?: () => boolean } {
  if (config.natsServers === undefined) {
    const store = new MemoryMessageStore(config.storeMaxPerRoom, config.reactions.usersShown);
    return { queue: new MemoryQueue(store), store };
  }
  const queue = new JetStreamQueue({ nats: config.natsServers, prefix: config.keyPrefix, logger, lastSeqScanMs: config.timing.dedupeTtlS * 1000, limits: limitsFromConfig(config.queue), replicas: config.queue.replicas, persisted: config.mongodbUrl !== undefined });
  if (config.mongodbUrl === undefined) {
    return { queue, store: new NoLongTermStore(), durable: queue, queueCheck: () => queue.connected };
  }
  const store = new MongoMessageStore({ url: config.mongodbUrl, tailMs: config.timing.dedupeTtlS * 1000, usersShown: config.reactions.usersShown });
  return { queue, store, durable: new CombinedPosition([queue, store]), queueCheck: () => queue.connected };
}

function embedded(config: Config): Adapters {
  const store = new MemoryMessageStore(config.storeMaxPerRoom, config.reactions.usersShown);
  const state = new MemoryRoomState(config.recentMax);
  const limiter = new MemoryRateLimiter();
  return {
    state,
    moderation: state.moderation,
    limiters: { sends: limiter, handshakes: limiter },
    ...(config.policy.maxConnsPerAddress > 0 ? { slots: new MemoryAddressSlots() } : {}),
    dedupe: { erase: (user, room) => state.eraseDedupe(user, room) },
    presence: new MemoryPresence(),
    bus: new MemoryBroadcast(),
    queue: new MemoryQueue(store),
    store,
    checks: {},
    extra: [],
  };
}
