import { describe, it } from 'vitest';
import { scenario } from './run.js';
import { expectClean, seedFor, standardWorkload, useCluster } from './support.js';
import { NODE_TTL_S } from './cluster.js';

// Gateway processes killed (kill -9) or paused (SIGSTOP, then SIGCONT) under steady traffic:
// nothing acknowledged is lost or duplicated, every member ends up with every message in order,
// and presence counts exactly the open connections again (issue 10, item 6: a node paused
// longer than NODE_TTL_S is reaped by the others and must re-register its connections).

describe('gateway faults', () => {
  const cluster = useCluster({ name: 'faults_gateway', gateways: 2, workers: 1 });

  it('kill -9 of a gateway, restarted after a few seconds', async () => {
    const result = await scenario(cluster(), { seed: seedFor(101), workload: standardWorkload('gw-kill'), beforeMs: 3_000, fault: 'gateway-kill', holdMs: 3_000, afterMs: 3_000 });
    expectClean(result, cluster());
  }, 150_000);

  it('SIGSTOP of a gateway for longer than NODE_TTL_S, then SIGCONT', async () => {
    const result = await scenario(cluster(), { seed: seedFor(102), workload: standardWorkload('gw-pause'), beforeMs: 3_000, fault: 'gateway-pause', holdMs: NODE_TTL_S * 1000 + 3_000, afterMs: 2_000 });
    expectClean(result, cluster());
  }, 150_000);

  it('a gateway cut off Redis and NATS for longer than NODE_TTL_S while its clients stay connected', async () => {
    const result = await scenario(cluster(), { seed: seedFor(103), workload: standardWorkload('gw-part'), beforeMs: 3_000, fault: 'gateway-partition', holdMs: NODE_TTL_S * 1000 + 3_000, afterMs: 2_000 });
    expectClean(result, cluster());
  }, 150_000);
});
