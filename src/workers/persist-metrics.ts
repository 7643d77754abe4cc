import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The persist worker's Prometheus metrics, on the registry it is given. Workers sharing a
 * registry (several in one process) share the metrics too, instead of failing to register.
 */
export class PersistMetrics {
  readonly persisted: Counter;
  readonly batches: Counter;
  readonly conflicts: Counter;
  readonly deadLettered: Counter<'reason'>;
  readonly failures: Counter<'kind'>;
  readonly batchSeconds: Histogram;

  constructor(registry: Registry) {
    const shared = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
    const registers = [registry];
    this.persisted = shared('parley_persist_messages_total', () => new Counter({ name: 'parley_persist_messages_total', help: 'Messages stored (or found already stored) and acknowledged', registers }));
    this.batches = shared('parley_persist_batches_total', () => new Counter({ name: 'parley_persist_batches_total', help: 'Batches written to the message store', registers }));
    this.conflicts = shared('parley_persist_conflicts_total', () => new Counter({ name: 'parley_persist_conflicts_total', help: 'Messages whose (room, seq) another message holds', registers }));
    this.deadLettered = shared(
      'parley_persist_dead_letters_total',
      () => new Counter({ name: 'parley_persist_dead_letters_total', help: 'Messages moved to the dead-letter stream, by reason', labelNames: ['reason'] as const, registers }),
    );
    this.failures = shared(
      'parley_persist_failures_total',
      () =>
        new Counter({
          name: 'parley_persist_failures_total',
          help: 'Failed writes: transient (store unreachable, batch held and retried), error (batch nak-ed), rejected (one message refused, nak-ed)',
          labelNames: ['kind'] as const,
          registers,
        }),
    );
    this.batchSeconds = shared(
      'parley_persist_batch_seconds',
      () =>
        new Histogram({
          name: 'parley_persist_batch_seconds',
          help: 'Time to write one batch to the message store',
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
    );
  }
}
