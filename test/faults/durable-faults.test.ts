import { describe } from 'vitest';
import { faultTest, standardWorkload, useCluster } from './support.js';

// Delivery follows durability (issue 10, item 2). The gateways fan out over Redis pub/sub here,
// so the bus keeps working while JetStream is down: a message must not reach any member before
// it is in the durable queue. Half the senders give up after a failed send, like a client that
// went away: the servers must finish what they sequenced (store and deliver it) by themselves.

describe('durability faults (Redis bus, JetStream queue)', () => {
  const cluster = useCluster({ name: 'faults_durable', gateways: 2, workers: 1, bus: 'redis' });

  faultTest('JetStream down while the bus works, senders giving up', cluster, { seed: 501, workload: standardWorkload('dur-js', { abandonRate: 0.5 }), beforeMs: 3_000, fault: 'jetstream-down', holdMs: 4_000, afterMs: 3_000 });

  faultTest('kill -9 of a gateway mid-send, senders giving up', cluster, {
    seed: 502,
    workload: standardWorkload('dur-kill', { abandonRate: 0.5, paceMs: [50, 150] }),
    beforeMs: 3_000,
    fault: 'gateway-kill',
    holdMs: 3_000,
    afterMs: 3_000,
  });
});
