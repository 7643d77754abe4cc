import { describe, it } from 'vitest';
import type { FaultCluster } from './cluster.js';
import { onLinks } from './faults.js';
import { scenario } from './run.js';
import { expectClean, seedFor, standardWorkload, useCluster } from './support.js';
import { plans } from './workload.js';

// Sick links rather than dead processes: latency, connection resets and blackholes through
// Toxiproxy on chosen links; and clock-bound expiry: tokens that expire mid-run, renewed with
// `auth` by half the clients and left to expire (4001, reconnect with a fresh one) by the rest.

describe('link faults and token expiry', () => {
  const cluster = useCluster({ name: 'faults_link', gateways: 2, workers: 1 });

  it('300-700 ms of latency on every link of one gateway', async () => {
    const fault = (c: FaultCluster) => onLinks('link-latency', Object.values(c.gateways[0]?.links ?? {}), { type: 'latency', attributes: { latency: 300, jitter: 400 } });
    const result = await scenario(cluster(), { seed: seedFor(601), workload: standardWorkload('lk-lat'), beforeMs: 2_000, fault, holdMs: 6_000, afterMs: 2_000 });
    expectClean(result, cluster());
  }, 150_000);

  it("connection resets on the gateways' Redis and NATS links", async () => {
    const fault = (c: FaultCluster) => onLinks('link-reset', [...c.links('redis'), ...c.gateways.flatMap((g) => (g.links.nats ? [g.links.nats] : []))], { type: 'reset_peer', attributes: { timeout: 500 } });
    const result = await scenario(cluster(), { seed: seedFor(602), workload: standardWorkload('lk-reset'), beforeMs: 2_000, fault, holdMs: 4_000, afterMs: 3_000 });
    expectClean(result, cluster());
  }, 150_000);

  it("a blackholed Redis link of one gateway and MongoDB link of the worker", async () => {
    const fault = (c: FaultCluster) => onLinks('link-blackhole', [c.gateways[1]?.links.redis, c.workers[0]?.links.mongo].flatMap((l) => (l ? [l] : [])), { type: 'timeout', attributes: { timeout: 0 } }, 'upstream');
    const result = await scenario(cluster(), { seed: seedFor(603), workload: standardWorkload('lk-hole'), beforeMs: 2_000, fault, holdMs: 5_000, afterMs: 3_000 });
    expectClean(result, cluster());
  }, 150_000);

  it('tokens of 5 s, renewed with auth or left to expire', async () => {
    const rooms = ['lk-exp-a', 'lk-exp-b'];
    const clients = plans(6, 4, rooms, { ttlS: 5, renew: true }).map((p, i) => ({ ...p, renew: i % 2 === 0 }));
    const result = await scenario(cluster(), { seed: seedFor(604), workload: standardWorkload('lk-exp', { clients }), beforeMs: 12_000, afterMs: 0 });
    expectClean(result, cluster());
  }, 150_000);
});
