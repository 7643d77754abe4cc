import { describe } from 'vitest';
import { faultTest, standardWorkload, useCluster } from './support.js';

// A member back after a long absence in a room of large messages (issue 10, item 7): what it
// missed is far over RECOVERY_MAX_BYTES, so its join reply holds the oldest part with `more`,
// and it fetches the rest with `history` `after`; it must end up with every message, in order.
// SLOW_BYTES is 64 KiB here, far below the backlog, so a reply that closed it as a slow consumer
// would show as a reconnect loop and missing deliveries. (On loopback this reader drains even a
// multi-MB reply before the 4029 sweep: the test proves the catch-up path, not the old loop.)

describe('recovery of a large backlog', () => {
  const cluster = useCluster({ name: 'faults_recovery', gateways: 2, workers: 1, env: { SLOW_BYTES: String(64 * 1024) } });

  faultTest('two members offline for 10 s while the others send 3.5 KB messages', cluster, {
    seed: 801,
    workload: standardWorkload('rc-big', { bodyBytes: 3_500, paceMs: [40, 90] }),
    beforeMs: 1_000,
    holdMs: 10_000,
    duringFault: (w) => Promise.resolve(w.clients.slice(0, 2).forEach((c) => c.offline(10_000))),
    afterMs: 3_000,
  });
});
