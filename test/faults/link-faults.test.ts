import { describe } from 'vitest';
import type { FaultCluster } from './cluster.js';
import { onLinks } from './faults.js';
import { faultTest, standardWorkload, useCluster } from './support.js';
import { plans } from './workload.js';

// Sick links rather than dead processes: latency, connection resets and blackholes through
// Toxiproxy on chosen links; and clock-bound expiry: tokens that expire mid-run, renewed with
// `auth` by half the clients and left to expire (4001, reconnect with a fresh one) by the rest.

const present = <T>(items: (T | undefined)[]): T[] => items.flatMap((x) => (x === undefined ? [] : [x]));

describe('link faults and token expiry', () => {
  const cluster = useCluster({ name: 'faults_link', gateways: 2, workers: 1 });

  faultTest('300-700 ms of latency on every link of one gateway', cluster, {
    seed: 601,
    workload: standardWorkload('lk-lat'),
    beforeMs: 2_000,
    fault: (c: FaultCluster) => onLinks('link-latency', Object.values(c.gateways[0]?.links ?? {}), { type: 'latency', attributes: { latency: 300, jitter: 400 } }),
    holdMs: 6_000,
    afterMs: 2_000,
  });

  faultTest("connection resets on the gateways' Redis and NATS links", cluster, {
    seed: 602,
    workload: standardWorkload('lk-reset'),
    beforeMs: 2_000,
    fault: (c: FaultCluster) => onLinks('link-reset', present(c.gateways.flatMap((g) => [g.links.redis, g.links.nats])), { type: 'reset_peer', attributes: { timeout: 500 } }),
    holdMs: 4_000,
    afterMs: 3_000,
  });

  faultTest('a blackholed Redis link of one gateway and MongoDB link of the worker', cluster, {
    seed: 603,
    workload: standardWorkload('lk-hole'),
    beforeMs: 2_000,
    fault: (c: FaultCluster) => onLinks('link-blackhole', present([c.gateways[1]?.links.redis, c.workers[0]?.links.mongo]), { type: 'timeout', attributes: { timeout: 0 } }, 'upstream'),
    holdMs: 5_000,
    afterMs: 3_000,
  });

  faultTest('tokens of 5 s, renewed with auth or left to expire', cluster, {
    seed: 604,
    workload: standardWorkload('lk-exp', { clients: plans(6, 4, ['lk-exp-a', 'lk-exp-b'], { ttlS: 5, renew: true }).map((p, i) => ({ ...p, renew: i % 2 === 0 })) }),
    beforeMs: 12_000,
    afterMs: 0,
  });
});
