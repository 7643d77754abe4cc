import { describe } from 'vitest';
import { pause } from '../cluster/support.js';
import { faultTest, standardWorkload, useCluster } from './support.js';

// Redis losing state under steady traffic (issue 10, items 1, 3 and 5): restarted from an older
// snapshot, flushed, or down while connections close. With persistence configured, the rooms
// come back from the durable copy in the same epoch: no seq names two messages, acknowledged
// cids stay duplicates (the workload resends some), and presence forgets the closed
// connections (MAX_CONNS_PER_USER is 3 here, so ghost entries soon refuse the users' connects).

describe('Redis faults', () => {
  const cluster = useCluster({ name: 'faults_redis', gateways: 2, workers: 1, env: { MAX_CONNS_PER_USER: '3' } });

  faultTest('Redis restarted from an older snapshot (SAVE, 3 s of traffic, kill -9, start)', cluster, {
    seed: 201,
    workload: standardWorkload('redis-snap', { resendRate: 0.25 }),
    beforeMs: 3_000,
    fault: 'redis-snapshot',
    holdMs: 3_000,
    afterMs: 4_000,
  });

  faultTest('FLUSHALL mid-conversation, acknowledged cids resent afterwards', cluster, { seed: 202, workload: standardWorkload('redis-flush', { resendRate: 0.3 }), beforeMs: 4_000, fault: 'redis-flush', afterMs: 5_000 });

  faultTest('Redis down for 4 s while clients drop and reconnect', cluster, {
    seed: 203,
    workload: standardWorkload('redis-down'),
    beforeMs: 3_000,
    fault: 'redis-down',
    holdMs: 4_000,
    afterMs: 3_000,
    // Every client drops while Redis is away (twice, if it got back in between): each drop
    // leaves a presence entry to clean up.
    duringFault: async (w) => {
      for (let round = 0; round < 2; round++) {
        await pause(1_000);
        w.clients.forEach((c) => c.drop());
      }
    },
  });
});
