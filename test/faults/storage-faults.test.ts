import { describe } from 'vitest';
import { faultTest, standardWorkload, useCluster } from './support.js';

// Storage limits (issue 10, item 8). The queue stream is 1 MiB here: a MongoDB outage fills it,
// and then sends must be refused (and resent later), never acknowledged and dropped. And a cid
// reused after DEDUPE_TTL_S is a new message: acknowledged, stored and delivered like any
// other. That one runs on a cluster with an 8 s window and without resends of acknowledged
// cids: a resend that late would rightly be a new message too (so would a send retried for
// longer than the window, which is why the full queue keeps the default window).

describe('storage limits: a full queue', () => {
  const cluster = useCluster({ name: 'faults_full', gateways: 2, workers: 1, env: { QUEUE_MAX_BYTES: String(1024 * 1024) } });

  faultTest('the queue fills up during a 15 s MongoDB outage', cluster, {
    seed: 701,
    workload: standardWorkload('st-full', { bodyBytes: 3_000, paceMs: [40, 90] }),
    beforeMs: 2_000,
    fault: 'mongo-down',
    holdMs: 15_000,
    afterMs: 2_000,
  });
});

describe('storage limits: the dedupe window', () => {
  const cluster = useCluster({ name: 'faults_reuse', gateways: 2, workers: 1, env: { DEDUPE_TTL_S: '8' } });

  faultTest('cids reused after the dedupe window are new messages', cluster, {
    seed: 702,
    workload: standardWorkload('st-reuse', { resendRate: 0, reuse: { rate: 0.3, afterMs: 10_000 } }),
    beforeMs: 20_000,
    afterMs: 0,
  });
});
