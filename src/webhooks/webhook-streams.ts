import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import { ensureStream, jsErrCode, JS_ERR, type QueueNames } from '../bus/jetstream-streams.js';
import { natsToken } from '../bus/nats-broadcast.js';
import type { Logger } from '../shared/logger.js';

/**
 * The JetStream resources of a deployment's webhooks, all derived from the key prefix.
 *
 * Events wait in `PARLEY_<prefix>_HOOKS` on `<prefix>.hooks.<partition>.<room>` (a room always
 * hashes to the same partition). The stream is a work queue: an event is removed once its
 * partition consumer acknowledged it, so the stream holds exactly what is pending. Each partition
 * has one durable consumer shared by every worker, with one message in flight at a time: that is
 * what keeps a room's events in order across workers, retries and crashes.
 */
export interface WebhookNames {
  stream: string;
  /** `<prefix>.hooks.>` */
  subjects: string;
  /** `PARLEY_<prefix>_HOOKS_DEAD`: events given up on, with headers saying why. */
  deadStream: string;
  /** `<prefix>.hooksdead.>` */
  deadSubjects: string;
  /** `<prefix>_hooks_relay`: the consumer on the queue stream that turns stored messages into events. */
  relayConsumer: string;
  /** The JetStream key-value bucket holding the relay lease. */
  leaseBucket: string;
  /** `<prefix>_hooks_<n>`: the consumer of partition n. */
  partitionConsumer(partition: number): string;
}

export function webhookNames(prefix: string): WebhookNames {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  return {
    stream: `PARLEY_${safe}_HOOKS`,
    subjects: `${prefix}.hooks.>`,
    deadStream: `PARLEY_${safe}_HOOKS_DEAD`,
    deadSubjects: `${prefix}.hooksdead.>`,
    relayConsumer: `${safe}_hooks_relay`,
    leaseBucket: `PARLEY_${safe}_HOOKS_LEASE`,
    partitionConsumer: (partition) => `${safe}_hooks_${partition}`,
  };
}

/** The partition of a room: FNV-1a of its name, modulo the partition count (WEBHOOK_PARTITIONS). */
export function partitionOf(room: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < room.length; i++) {
    h ^= room.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

export function hookSubject(prefix: string, partition: number, room: string): string {
  return `${prefix}.hooks.${partition}.${natsToken(room)}`;
}

export function hookDeadSubject(prefix: string, room: string | undefined): string {
  return `${prefix}.hooksdead.${room === undefined ? '_unreadable' : natsToken(room)}`;
}

/** The subjects of a room's stored messages in the queue stream (one token per room; not read pointers). */
export function relayFilter(prefix: string): string {
  return `${prefix}.persist.*`;
}

export interface WebhookStreamLimits {
  /** Pending events past this are refused (never dropped): the relay waits, presence events are retried. */
  maxBytes: number;
  deadMaxBytes: number;
  deadMaxAgeMs: number;
  /** Re-publishes of an event id within this window are stored once (relay retries, lease hand-overs). */
  duplicateWindowMs: number;
}

const DAY_MS = 86_400_000;

/** A quarter of the queue's limit for pending events and an eighth (at most 256 MiB) for dead letters. */
export function webhookLimits(queue: { maxBytes: number }): WebhookStreamLimits {
  return {
    maxBytes: Math.max(1024 * 1024, Math.floor(queue.maxBytes / 4)),
    deadMaxBytes: Math.max(1024 * 1024, Math.min(256 * 1024 ** 2, Math.floor(queue.maxBytes / 8))),
    deadMaxAgeMs: 30 * DAY_MS,
    duplicateWindowMs: 2 * 60_000,
  };
}

function streamConfigs(names: WebhookNames, limits: WebhookStreamLimits, replicas: number): { hooks: Partial<StreamConfig>; dead: Partial<StreamConfig> } {
  const common = { storage: StorageType.File, num_replicas: replicas, max_msgs: -1, duplicate_window: nanos(limits.duplicateWindowMs) };
  return {
    hooks: { ...common, retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.New, max_age: 0, max_bytes: limits.maxBytes },
    dead: { ...common, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, max_age: nanos(limits.deadMaxAgeMs), max_bytes: limits.deadMaxBytes },
  };
}

/** Creates or updates both webhook streams (idempotent, safe when several processes start at once). */
export async function ensureWebhookStreams(jsm: JetStreamManager, names: WebhookNames, limits: WebhookStreamLimits, replicas: number, logger: Logger): Promise<void> {
  const configs = streamConfigs(names, limits, replicas);
  await ensureStream(jsm, { ...configs.hooks, name: names.stream, subjects: [names.subjects] }, logger);
  await ensureStream(jsm, { ...configs.dead, name: names.deadStream, subjects: [names.deadSubjects] }, logger);
}

/**
 * The relay's consumer on the queue stream. Created with DeliverPolicy.New: turning webhooks on
 * sends the messages stored from then on, not the stream's whole retained history. Gateways and
 * workers both create it at start-up, so messages sent before the first worker started are kept.
 */
export async function ensureRelayConsumer(jsm: JetStreamManager, queue: QueueNames, names: WebhookNames, prefix: string, ackWaitMs: number, opts = { update: true }): Promise<void> {
  const updatable = { ack_wait: nanos(ackWaitMs), max_ack_pending: 1_000, max_deliver: -1 };
  await ensureConsumer(jsm, queue.stream, names.relayConsumer, updatable, { deliver_policy: DeliverPolicy.New, filter_subject: relayFilter(prefix) }, opts.update);
}

/**
 * One consumer per partition, one event in flight each (max_ack_pending 1): the next event of a
 * partition is handed out only once the one before is acknowledged or dead-lettered, whichever
 * worker holds it; a nak with a delay holds the partition for that delay. Attempts are counted
 * by the worker (delivery count), so JetStream's own max_deliver is unlimited.
 */
export async function ensurePartitionConsumers(jsm: JetStreamManager, names: WebhookNames, prefix: string, partitions: number, ackWaitMs: number): Promise<void> {
  const updatable = { ack_wait: nanos(ackWaitMs), max_ack_pending: 1, max_deliver: -1 };
  for (let p = 0; p < partitions; p++) {
    await ensureConsumer(jsm, names.stream, names.partitionConsumer(p), updatable, { deliver_policy: DeliverPolicy.All, filter_subject: `${prefix}.hooks.${p}.>` });
  }
}

/** The partitions that have a consumer: those of WEBHOOK_PARTITIONS, and any left by a larger earlier setting. */
export async function existingPartitions(jsm: JetStreamManager, names: WebhookNames): Promise<number[]> {
  const found: number[] = [];
  const pattern = new RegExp(`^${names.partitionConsumer(0).slice(0, -1).replace(/[^A-Za-z0-9_]/g, '\\$&')}(\\d+)$`);
  for await (const info of jsm.consumers.list(names.stream)) {
    const m = pattern.exec(info.name);
    if (m?.[1] !== undefined) found.push(Number(m[1]));
  }
  return found.sort((a, b) => a - b);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  updatable: { ack_wait: number; max_ack_pending: number; max_deliver: number },
  fixed: { deliver_policy: DeliverPolicy; filter_subject: string },
  update = true,
): Promise<void> {
  try {
    await jsm.consumers.info(stream, durable);
  } catch (err) {
    if (jsErrCode(err) !== JS_ERR.consumerNotFound) throw err;
    // Processes starting together: with the same config, add is idempotent.
    await jsm.consumers.add(stream, { ...updatable, ...fixed, durable_name: durable, ack_policy: AckPolicy.Explicit });
    return;
  }
  if (update) await jsm.consumers.update(stream, durable, updatable);
}
