// A persist worker in a child process, for the crash test: `parley worker` with a short ack
// wait (TEST_ACK_WAIT_MS), so a killed worker's messages come back within the test's deadline,
// and small batches (TEST_BATCH_SIZE), so a kill right after the first write lands mid-backlog.
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/logger.js';
import { runWorker } from '../../src/workers/main.js';

const { config } = loadConfig(process.env);
const logger = createLogger(config.logLevel);
const running = await runWorker(config, logger, {
  ackWaitMs: Number(process.env.TEST_ACK_WAIT_MS ?? 30_000),
  batchSize: Number(process.env.TEST_BATCH_SIZE ?? 500),
});
process.on('SIGTERM', () => {
  running.close().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'closing failed');
      process.exit(1);
    },
  );
});
