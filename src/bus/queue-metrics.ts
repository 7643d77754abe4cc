import { Gauge, type Registry } from 'prom-client';
import type { QueueCapacity } from './queue-retention.js';

/**
 * The queue stream's fill as gauges, read at scrape time from the last QueueRetention check
 * (absent until then). Registering on a registry that already has them is a no-op.
 */
export function registerQueueMetrics(registry: Registry, read: () => QueueCapacity | undefined): void {
  const gauge = (name: string, help: string, value: (c: QueueCapacity) => number): void => {
    if (registry.getSingleMetric(name)) return;
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const c = read();
        if (c) this.set(value(c));
      },
    });
  };
  gauge('parley_queue_bytes', 'Bytes in the JetStream queue stream', (c) => c.bytes);
  gauge('parley_queue_max_bytes', 'The queue stream limit (QUEUE_MAX_BYTES): past it, sends are refused', (c) => c.maxBytes);
  gauge('parley_queue_unpersisted_bytes', 'Bytes of queued messages the persist workers have not stored yet (estimated from the average size)', (c) => c.unpersistedBytes);
  gauge('parley_queue_unpersisted_messages', 'Queued messages the persist workers have not stored yet', (c) => c.unpersistedMessages);
  gauge('parley_queue_full', '1 while unpersisted messages fill the queue stream and sends are refused (overloaded)', (c) => (c.full ? 1 : 0));
}
