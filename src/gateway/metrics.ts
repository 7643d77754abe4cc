/** A count the gateway moves; labels as Prometheus takes them. */
export interface CountOf<L extends string> {
  inc(labels: Record<L, string>): void;
}

/**
 * What the gateway records about its connections and frames. The node's Prometheus metrics
 * (admin/metrics.ts) implement it; the gateway knows nothing of how they are exported.
 */
export interface GatewayMetrics {
  readonly connections: CountOf<'transport'> & { dec(labels: Record<'transport', string>): void };
  /** By close code: the server's own code when it closed the connection. */
  readonly closes: CountOf<'code'>;
  /** By outcome: `ok`, `bad`, `rate_limited`. */
  readonly frames: CountOf<'outcome'>;
  /** Message pushes written to local connections. */
  readonly messagesOut: { inc(n: number): void };
  /** typing and presence pushes skipped for slow consumers. */
  readonly droppedPushes: { inc(n: number): void };
  /** Seconds from a send frame to its reply. */
  readonly sendLatency: { observe(seconds: number): void };
}
