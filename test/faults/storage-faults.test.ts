import { describe, it } from 'vitest';
import { scenario } from './run.js';
import { expectClean, seedFor, standardWorkload, useCluster } from './support.js';

// Storage limits (issue 10, item 8). The queue stream is 1 MiB here: a MongoDB outage fills it,
// and then sends must be refused (and resent later), never acknowledged and dropped. And a cid
// reused after DEDUPE_TTL_S (8 s here) is a new message: acknowledged, stored and delivered like
// any other. No resends of acknowledged cids in this file: one that came after the dedupe
// window would rightly be a new message too.

describe('storage limits', () => {
  const cluster = useCluster({ name: 'faults_storage', gateways: 2, workers: 1, env: { QUEUE_MAX_BYTES: String(1024 * 1024), DEDUPE_TTL_S: '8' } });

  it('the queue fills up during a 15 s MongoDB outage', async () => {
    const workload = standardWorkload('st-full', { resendRate: 0, bodyBytes: 3_000, paceMs: [40, 90] });
    const result = await scenario(cluster(), { seed: seedFor(701), workload, beforeMs: 2_000, fault: 'mongo-down', holdMs: 15_000, afterMs: 2_000 });
    expectClean(result, cluster());
  }, 150_000);

  it('cids reused after the dedupe window are new messages', async () => {
    const workload = standardWorkload('st-reuse', { resendRate: 0, reuse: { rate: 0.3, afterMs: 10_000 } });
    const result = await scenario(cluster(), { seed: seedFor(702), workload, beforeMs: 20_000, afterMs: 0 });
    expectClean(result, cluster());
  }, 150_000);
});
