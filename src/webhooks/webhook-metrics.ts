import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the pending and failed gauges read at scrape time (WebhookAdmin.summary). */
export interface WebhookCounts {
  pending: number;
  relaying: number;
  failed: number;
}

/** The webhook worker's Prometheus metrics, on the registry it is given. */
export class WebhookMetrics {
  readonly delivered: Counter<'type'>;
  readonly failedAttempts: Counter<'type'>;
  readonly retried: Counter<'type'>;
  readonly deadLettered: Counter<'type' | 'reason'>;
  readonly relayed: Counter<'type'>;
  readonly requestSeconds: Histogram;
  readonly lagSeconds: Histogram;

  constructor(registry: Registry, counts: () => Promise<WebhookCounts>) {
    const registers = [registry];
    this.delivered = new Counter({ name: 'parley_webhook_delivered_total', help: 'Webhook events delivered (a 2xx answer), by type', labelNames: ['type'] as const, registers });
    this.failedAttempts = new Counter({ name: 'parley_webhook_failed_attempts_total', help: 'Webhook attempts that failed (not 2xx, timeout, connection error), by type', labelNames: ['type'] as const, registers });
    this.retried = new Counter({ name: 'parley_webhook_retried_total', help: 'Failed webhook attempts scheduled for another attempt, by type', labelNames: ['type'] as const, registers });
    this.deadLettered = new Counter({
      name: 'parley_webhook_dead_lettered_total',
      help: 'Webhook events moved to the dead-letter stream, by type and reason',
      labelNames: ['type', 'reason'] as const,
      registers,
    });
    this.relayed = new Counter({ name: 'parley_webhook_relayed_total', help: 'Webhook events the relay queued from stored messages, by type', labelNames: ['type'] as const, registers });
    this.requestSeconds = new Histogram({
      name: 'parley_webhook_request_seconds',
      help: 'Duration of one webhook request (each attempt)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.lagSeconds = new Histogram({
      name: 'parley_webhook_delivery_lag_seconds',
      help: "Time from an event's ts to its delivery",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    let last: Promise<WebhookCounts | undefined> | undefined;
    // One read of the streams per scrape for all three gauges.
    const read = (): Promise<WebhookCounts | undefined> => (last ??= counts().catch(() => undefined).finally(() => setTimeout(() => (last = undefined), 100).unref()));
    const gauge = (name: string, help: string, pick: (c: WebhookCounts) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const c = await read();
          if (c) this.set(pick(c));
        },
      });
    };
    gauge('parley_webhook_pending', 'Webhook events waiting for delivery (or in flight)', (c) => c.pending);
    gauge('parley_webhook_relay_pending', 'Stored messages the relay has not turned into webhook events yet', (c) => c.relaying);
    gauge('parley_webhook_failed', 'Dead-lettered webhook events (replay them with the admin API)', (c) => c.failed);
  }
}
