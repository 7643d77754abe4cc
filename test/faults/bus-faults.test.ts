import { describe } from 'vitest';
import { faultTest, standardWorkload, useCluster } from './support.js';

// The bus and the durable queue going away (issue 10, item 4): one gateway's NATS link cut while
// the conversation ends (the last messages must still reach that gateway's members, within the
// "Quiet rooms" bound of 2 s after their ack, plus 1 s of slack for this machine), and JetStream
// unavailable altogether (NATS down: sends are refused, then resent and acknowledged once).

describe('bus and queue faults', () => {
  const cluster = useCluster({ name: 'faults_bus', gateways: 2, workers: 1 });

  faultTest("a gateway's bus link cut while the rooms go quiet", cluster, {
    seed: 401,
    workload: standardWorkload('bus-cut', { paceMs: [300, 900] }),
    beforeMs: 3_000,
    fault: 'bus-cut',
    holdMs: 4_000,
    afterMs: 0,
    deliveryDeadlineMs: 3_000,
  });

  faultTest('JetStream unavailable: NATS down for 4 s', cluster, { seed: 402, workload: standardWorkload('js-down'), beforeMs: 3_000, fault: 'jetstream-down', holdMs: 4_000, afterMs: 3_000 });
});
