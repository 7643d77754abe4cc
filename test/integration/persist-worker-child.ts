// A persist worker in a child process, for the crash tests: `parley worker` with a short ack
// wait (TEST_ACK_WAIT_MS), so a killed worker's messages come back within the test's deadline,
// and small batches (TEST_BATCH_SIZE), so a kill right after the first write lands mid-backlog.
// With WEBHOOK_URL, TEST_ACK_WAIT_MS is also the webhook ack waits and TEST_LEASE_MS the relay
// lease, so a killed worker's lease and in-flight events come back within the deadline too.
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/logger.js';
import { runWorker } from '../../src/worker.js';

const { config } = loadConfig(process.env, { role: 'worker' });
const logger = createLogger(config.logLevel);
const ackWaitMs = Number(process.env.TEST_ACK_WAIT_MS ?? 30_000);
const leaseMs = Number(process.env.TEST_LEASE_MS ?? 10_000);
const running = await runWorker(config, logger, { ackWaitMs, batchSize: Number(process.env.TEST_BATCH_SIZE ?? 500) }, undefined, {
  relay: { leaseMs, ackWaitMs, fetchExpiresMs: 1_000 },
  delivery: { ackWaitMs },
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
