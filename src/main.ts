import { buildAdapters } from './adapters.js';
import type { Config } from './config/index.js';
import { ParleyNode } from './node.js';
import type { Logger } from './shared/logger.js';
import type { Tracer } from './shared/tracing.js';

export { ParleyNode, type Adapters } from './node.js';
export { buildAdapters } from './adapters.js';
export { loadConfig, ConfigError, type Config } from './config/index.js';
export { createLogger } from './shared/logger.js';
export { startTracing, type Tracing } from './tracing-sdk.js';

/** Builds one gateway node over the adapters its configuration selects; `tracer` while tracing is on. */
export function createNode(config: Config, logger: Logger, tracer?: Tracer): ParleyNode {
  return new ParleyNode(config, buildAdapters(config, logger, tracer), logger, tracer);
}
