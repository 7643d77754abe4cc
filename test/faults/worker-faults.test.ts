import { describe } from 'vitest';
import { WORKER_ACK_WAIT_MS } from './cluster.js';
import { faultTest, standardWorkload, useCluster } from './support.js';

// Persist workers killed, paused past their ack wait, or cut off MongoDB for longer than their
// ack wait, under steady traffic: every acknowledged message still reaches MongoDB exactly once.

describe('persist worker faults', () => {
  const cluster = useCluster({ name: 'faults_worker', gateways: 2, workers: 2 });

  faultTest('kill -9 of a persist worker, restarted after 3 s', cluster, { seed: 301, workload: standardWorkload('wk-kill'), beforeMs: 3_000, fault: 'worker-kill', holdMs: 3_000, afterMs: 2_000 });

  faultTest('SIGSTOP of a persist worker past its ack wait, then SIGCONT', cluster, { seed: 302, workload: standardWorkload('wk-pause'), beforeMs: 3_000, fault: 'worker-pause', holdMs: WORKER_ACK_WAIT_MS + 3_000, afterMs: 2_000 });

  faultTest('MongoDB unreachable from the workers for longer than their ack wait', cluster, { seed: 303, workload: standardWorkload('wk-mongo'), beforeMs: 3_000, fault: 'mongo-down', holdMs: WORKER_ACK_WAIT_MS + 5_000, afterMs: 2_000 });
});
