import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type NatsError, type StreamConfig, type StreamUpdateConfig } from 'nats';
import type { Logger } from '../shared/logger.js';
import { natsToken } from './nats-broadcast.js';

/**
 * Names of one deployment's JetStream resources, all derived from the key prefix.
 *
 * Stream and consumer names keep only [A-Za-z0-9_-] of the prefix, so two prefixes that differ
 * only in other characters ("a.b", "a:b", "a_b") map to the same stream: `ensureStream` refuses
 * to take over a stream whose subjects belong to another prefix instead of rewriting them.
 */
export interface QueueNames {
  /** `PARLEY_<prefix>_MESSAGES`: accepted messages waiting for (and kept after) persistence. */
  stream: string;
  /** `<prefix>.persist.>` */
  subjects: string;
  /** `PARLEY_<prefix>_DEAD`: messages the worker gave up on, with headers saying why. */
  deadStream: string;
  /** `<prefix>.dead.>` */
  deadSubjects: string;
  /** `<prefix>_persist`: the durable pull consumer every persist worker shares. */
  consumer: string;
}

export function queueNames(prefix: string): QueueNames {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  return {
    stream: `PARLEY_${safe}_MESSAGES`,
    subjects: `${prefix}.persist.>`,
    deadStream: `PARLEY_${safe}_DEAD`,
    deadSubjects: `${prefix}.dead.>`,
    consumer: `${safe}_persist`,
  };
}

/** The subject of a room's messages in the queue stream. */
export function persistSubject(prefix: string, room: string): string {
  return `${prefix}.persist.${natsToken(room)}`;
}

/**
 * The subject of a room's read pointers in the queue stream: one token more than a room's
 * message subject (room names are one token there), so the two never meet.
 */
export function readsSubject(prefix: string, room: string): string {
  return `${prefix}.persist.reads.${natsToken(room)}`;
}

/** The dead-letter subject of a message from `room`, or of one whose room could not be read. */
export function deadSubject(prefix: string, room: string | undefined): string {
  return `${prefix}.dead.${room === undefined ? '_unreadable' : natsToken(room)}`;
}

/**
 * Explicit limits of the queue streams. Retention is by limits (not work-queue), so a room's
 * newest messages stay readable for `lastSeq` after they were persisted. The queue stream never
 * discards a message itself (DiscardPolicy.New, no max_age): QueueRetention trims what the
 * persist workers have stored, and a stream full of unpersisted messages refuses new ones.
 */
export interface StreamLimits {
  /** How long persisted messages are kept (QueueRetention trims them; unpersisted ones stay). */
  maxAgeMs: number;
  /** The stream refuses messages past this; QueueRetention keeps room by trimming persisted ones. */
  maxBytes: number;
  /** Publishes of the same msg id ("room:seq") within this window are stored once. */
  duplicateWindowMs: number;
  deadMaxAgeMs: number;
  deadMaxBytes: number;
}

const DAY_MS = 86_400_000;

/**
 * 1 GiB is some 3 million messages of backlog (sends are refused past it). JetStream reserves
 * `max_bytes` of file storage per stream out of the server's limit, so these are kept modest.
 */
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxAgeMs: 7 * DAY_MS,
  maxBytes: 1024 ** 3,
  duplicateWindowMs: 2 * 60_000,
  deadMaxAgeMs: 30 * DAY_MS,
  deadMaxBytes: 256 * 1024 ** 2,
};

/**
 * The configuration of both streams of a deployment, each kept on `replicas` servers
 * (QUEUE_REPLICAS): with 3, a PubAck means two of the three servers hold the message.
 */
export function streamConfigs(names: QueueNames, limits: StreamLimits, replicas = 1): { queue: Partial<StreamConfig>; dead: Partial<StreamConfig> } {
  const common = { retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: replicas, max_msgs: -1 };
  return {
    queue: {
      ...common,
      name: names.stream,
      subjects: [names.subjects],
      // Refuse rather than drop: see QueueRetention, which enforces `maxAgeMs` on persisted messages only.
      discard: DiscardPolicy.New,
      max_age: 0,
      max_bytes: limits.maxBytes,
      duplicate_window: nanos(limits.duplicateWindowMs),
    },
    dead: {
      ...common,
      name: names.deadStream,
      subjects: [names.deadSubjects],
      discard: DiscardPolicy.Old,
      max_age: nanos(limits.deadMaxAgeMs),
      max_bytes: limits.deadMaxBytes,
      duplicate_window: nanos(limits.duplicateWindowMs),
    },
  };
}

/** JetStream API error codes this module tells apart. */
export const JS_ERR = { streamNotFound: 10059, streamNameInUse: 10058, consumerNotFound: 10014, noMessageFound: 10037 } as const;

export function jsErrCode(err: unknown): number | undefined {
  const e = err as Partial<NatsError> | undefined;
  return typeof e?.jsError === 'function' ? e.jsError()?.err_code : undefined;
}

/**
 * Creates the stream, or brings an existing one to `config`'s limits and replicas. Idempotent
 * and safe when several processes start at once. Throws when the existing stream listens on
 * other subjects or uses another storage type (JetStream cannot change it in place), or when a
 * new stream cannot be created (e.g. more replicas than the cluster has JetStream servers).
 *
 * An existing stream that cannot get the replicas asked for does not stop the process: NATS
 * refuses the change (a cluster short of servers: the stream keeps its replicas and gets the
 * other changes), or accepts it without effect (a server outside any cluster stores the new
 * count and keeps one copy). Either way the stream still works at its old replication, and
 * stopping every gateway over it would take the chat down for a durability setting: the
 * shortfall is logged as an error naming both counts, at every start until it is fixed.
 */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string; subjects: string[] }, logger?: Logger): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    let current: StreamConfig;
    try {
      current = (await jsm.streams.info(config.name)).config;
    } catch (err) {
      if (jsErrCode(err) !== JS_ERR.streamNotFound) throw err;
      try {
        await jsm.streams.add(config);
        await checkCopies(jsm, config.name, config.num_replicas ?? 1, logger);
        return;
      } catch (addErr) {
        // Another process created it between our info and add: read it again and update.
        if (jsErrCode(addErr) === JS_ERR.streamNameInUse) continue;
        throw addErr;
      }
    }
    const subjects = [...(current.subjects ?? [])].sort().join(',');
    if (subjects !== [...config.subjects].sort().join(',')) {
      throw new Error(`stream ${config.name} exists with subjects [${subjects}], not [${config.subjects.join(',')}]: another key prefix owns it`);
    }
    const { name, retention, storage, ...updatable } = config;
    if ((storage !== undefined && current.storage !== storage) || (retention !== undefined && current.retention !== retention)) {
      throw new Error(`stream ${name} exists with ${current.storage} storage and ${current.retention} retention: JetStream cannot change them in place`);
    }
    if (differs(current, updatable)) await update(jsm, name, current, updatable);
    await checkCopies(jsm, name, config.num_replicas ?? 1, logger);
    return;
  }
  throw new Error(`stream ${config.name} could not be created or read`);
}

/** Applies `wanted`; when NATS refuses a change of replicas, applies the rest without it. */
async function update(jsm: JetStreamManager, name: string, current: StreamConfig, wanted: Partial<StreamUpdateConfig>): Promise<void> {
  try {
    await jsm.streams.update(name, wanted);
    return;
  } catch (err) {
    if (wanted.num_replicas === undefined || wanted.num_replicas === current.num_replicas) throw err;
  }
  const rest = { ...wanted, num_replicas: current.num_replicas };
  if (differs(current, rest)) await jsm.streams.update(name, rest);
}

/**
 * Logs an error when the stream is kept on fewer servers than `wanted`: outside a cluster it has
 * one copy whatever its config says; in a cluster, NATS places the count its config holds (a
 * change it accepted settles in the background, one it refused left the old count).
 */
async function checkCopies(jsm: JetStreamManager, name: string, wanted: number, logger: Logger | undefined): Promise<void> {
  const info = await jsm.streams.info(name);
  const copies = info.cluster === undefined ? 1 : info.config.num_replicas;
  if (copies >= wanted) return;
  logger?.error(
    { stream: name, copies, wanted, cluster: info.cluster?.name ?? null },
    `stream ${name} is kept on ${copies} server(s), not the ${wanted} of QUEUE_REPLICAS: NATS cannot place more (fewer JetStream servers in its cluster, or no cluster)`,
  );
}

function differs(current: StreamConfig, wanted: Partial<StreamUpdateConfig>): boolean {
  return (Object.keys(wanted) as (keyof StreamUpdateConfig)[]).some((k) => JSON.stringify(current[k]) !== JSON.stringify(wanted[k]));
}

/** The stream limits of a deployment's configuration. */
export function limitsFromConfig(queue: { maxBytes: number; maxAgeS: number }): Partial<StreamLimits> {
  return { maxBytes: queue.maxBytes, maxAgeMs: queue.maxAgeS * 1000, deadMaxBytes: Math.min(256 * 1024 ** 2, Math.floor(queue.maxBytes / 4)) };
}
