import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayMetrics } from '../gateway/metrics.js';
import type { RoomMetrics } from '../rooms/ports.js';

/** Buckets of the latency histograms, in seconds: from half a millisecond to seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Every Prometheus metric of a node, on a registry of its own (no global default registry). */
export class Metrics implements RoomMetrics, GatewayMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'parley_connections', help: 'Open client connections on this node', labelNames: ['transport'], registers: [this.registry] });
  readonly rooms = new Gauge({ name: 'parley_rooms', help: 'Rooms with local members on this node', registers: [this.registry] });
  readonly messagesIn = new Counter({ name: 'parley_messages_in_total', help: 'Accepted sends', labelNames: ['dup'], registers: [this.registry] });
  readonly messagesOut = new Counter({ name: 'parley_messages_out_total', help: 'Message pushes written to local connections', registers: [this.registry] });
  readonly sendLatency = new Histogram({
    name: 'parley_send_latency_seconds',
    help: 'Time from a send frame to its reply',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly droppedPushes = new Counter({ name: 'parley_dropped_pushes_total', help: 'typing/presence pushes skipped for slow consumers', registers: [this.registry] });
  readonly closes = new Counter({ name: 'parley_closes_total', help: "Connections closed, by close code (the server's own code when it closed them)", labelNames: ['code'], registers: [this.registry] });
  readonly frames = new Counter({ name: 'parley_frames_in_total', help: 'Frames received, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly gapsHealed = new Counter({ name: 'parley_gaps_healed_total', help: 'Room feed gaps healed from the recent buffer', registers: [this.registry] });
  readonly sendsRefused = new Counter({ name: 'parley_sends_refused_total', help: 'Client sends refused by a limit, a room restriction or the publish hook, by error code', labelNames: ['code'], registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: 'parley_connections_refused_total', help: 'Upgrades and Socket.IO handshakes or connects refused for a per-address limit, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly hookCalls = new Counter({
    name: 'parley_hook_calls_total',
    help: 'Before-publish hook calls by outcome (accept, reject, modify, error, timeout; skipped: not made, the breaker being open)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly hookLatency = new Histogram({
    name: 'parley_hook_latency_seconds',
    help: 'Time from a before-publish hook request to its answer (or failure)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly hookBreaker = new Gauge({ name: 'parley_hook_breaker_state', help: "The before-publish hook's circuit breaker: 0 closed, 1 open, 2 half-open", registers: [this.registry] });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
  }

  messageAccepted(dup: boolean): void {
    this.messagesIn.inc({ dup: dup ? 'true' : 'false' });
  }

  sendRefused(code: string): void {
    this.sendsRefused.inc({ code });
  }

  gapHealed(): void {
    this.gapsHealed.inc();
  }
}
