import { describe } from 'vitest';
import { NODE_TTL_S } from './cluster.js';
import { faultTest, standardWorkload, useCluster } from './support.js';

// Gateway processes killed (kill -9), paused (SIGSTOP, then SIGCONT) or cut off Redis and NATS
// under steady traffic: nothing acknowledged is lost or duplicated, every member ends up with
// every message in order, and presence counts exactly the open connections again (issue 10,
// item 6: a node paused or partitioned longer than NODE_TTL_S is reaped by the others and must
// re-register its connections). Half the clients give a silent gateway 20 s before they leave
// it, so a paused gateway keeps some of its connections through the pause.

describe('gateway faults', () => {
  const cluster = useCluster({ name: 'faults_gateway', gateways: 2, workers: 1 });

  faultTest('kill -9 of a gateway, restarted after a few seconds', cluster, { seed: 101, workload: standardWorkload('gw-kill'), beforeMs: 3_000, fault: 'gateway-kill', holdMs: 3_000, afterMs: 3_000 });

  faultTest('SIGSTOP of a gateway for longer than NODE_TTL_S, then SIGCONT', cluster, { seed: 102, workload: standardWorkload('gw-pause'), beforeMs: 3_000, fault: 'gateway-pause', holdMs: NODE_TTL_S * 1000 + 3_000, afterMs: 2_000 });

  faultTest('a gateway cut off Redis and NATS for longer than NODE_TTL_S while its clients stay connected', cluster, {
    seed: 103,
    workload: standardWorkload('gw-part'),
    beforeMs: 3_000,
    fault: 'gateway-partition',
    holdMs: NODE_TTL_S * 1000 + 3_000,
    afterMs: 2_000,
  });
});
