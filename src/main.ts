import { buildAdapters } from './adapters.js';
import type { Config } from './config/index.js';
import { ParleyNode } from './node.js';
import type { Logger } from './shared/logger.js';

export { ParleyNode, type Adapters } from './node.js';
export { buildAdapters } from './adapters.js';
export { loadConfig, ConfigError, type Config } from './config/index.js';
export { createLogger } from './shared/logger.js';

/** Builds one gateway node over the adapters its configuration selects. */
export function createNode(config: Config, logger: Logger): ParleyNode {
  return new ParleyNode(config, buildAdapters(config, logger), logger);
}
