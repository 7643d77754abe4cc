import type { Config } from './config/index.js';
import { ConfigError } from './config/index.js';
import { MemoryBroadcast } from './bus/memory-broadcast.js';
import { MemoryQueue } from './bus/memory-queue.js';
import { ParleyNode, type Adapters } from './node.js';
import { MemoryMessageStore } from './persistence/memory-store.js';
import { MemoryPresence } from './rooms/state/memory-presence.js';
import { MemoryRoomState } from './rooms/state/memory-room-state.js';
import type { Logger } from './shared/logger.js';

export { ParleyNode, type Adapters } from './node.js';
export { loadConfig, ConfigError, type Config } from './config/index.js';
export { createLogger } from './shared/logger.js';

/** Chooses the adapters for the configured mode (ARCHITECTURE.md, "Modes"). */
export function buildAdapters(config: Config): Adapters {
  if (config.redisUrl !== undefined || config.redisClusterNodes.length > 0) {
    throw new ConfigError('REDIS_URL', 'the Redis adapters are not part of this build yet; unset it to run in embedded mode');
  }
  if (config.natsUrl !== undefined) {
    throw new ConfigError('NATS_URL', 'the NATS adapters are not part of this build yet; unset it to run in embedded mode');
  }
  if (config.mongodbUrl !== undefined) {
    throw new ConfigError('MONGODB_URL', 'the MongoDB store is not part of this build yet; unset it to run in embedded mode');
  }
  const store = new MemoryMessageStore(config.storeMaxPerRoom);
  return {
    state: new MemoryRoomState(config.recentMax),
    presence: new MemoryPresence(),
    bus: new MemoryBroadcast(),
    queue: new MemoryQueue(store),
    store,
    checks: {},
  };
}

/** Builds one gateway node over the adapters its configuration selects. */
export function createNode(config: Config, logger: Logger): ParleyNode {
  return new ParleyNode(config, buildAdapters(config), logger);
}
