import { DeliverPolicy, Events, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { DurableTail } from '../domain/durable-position.js';
import type { ChatMessage, QueuedMessage, ReadPointer } from '../domain/messages.js';
import type { Logger } from '../shared/logger.js';
import { traceHeaders, type TraceContext } from '../shared/tracing.js';
import { SeqTakenError, type DurableQueue } from './durable-queue.js';
import { eventFields } from './event-fields.js';
import { connectNats, describeServers, type NatsServers } from './nats-servers.js';
import { PubAckPublisher } from './pub-ack-publisher.js';
import { eraseQueued, type QueueErasureResult, type QueuedEventHead } from './queue-erasure.js';
import { QueueRetention, type QueueCapacity } from './queue-retention.js';
import {
  DEFAULT_STREAM_LIMITS,
  ensureStream,
  jsErrCode,
  JS_ERR,
  persistSubject,
  queueNames,
  streamConfigs,
  type QueueNames,
  type StreamLimits, readsSubject } from './jetstream-streams.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Upper bound on `lastSeq`'s scan of a room's recent messages. */
const SCAN_DEADLINE_MS = 30_000;

export interface JetStreamQueueOptions {
  /**
   * NATS servers (one url, or several of one cluster): the queue opens its connection in
   * `start()` and drains it in `close()`. Or a connection the caller opened: the caller closes
   * it; `close()` leaves it open.
   */
  nats: NatsServers | NatsConnection;
  /** The deployment's key prefix: subjects `<prefix>.persist.<room>`, stream `PARLEY_<prefix>_MESSAGES`. */
  prefix: string;
  logger: Logger;
  limits?: Partial<StreamLimits>;
  /** Servers keeping a copy of each stream (QUEUE_REPLICAS); at most the cluster's JetStream servers. Default 1. */
  replicas?: number;
  /** How long to wait for the stream's PubAck before a publish fails. */
  publishTimeoutMs?: number;
  /**
   * How far back before a room's last queued message `lastSeq` looks for a higher seq. Sends
   * of one room reach the stream out of seq order when they race, and a client's retry re-queues
   * its message's old seq after the duplicate window: cover DEDUPE_TTL_S (10 min by default).
   */
  lastSeqScanMs?: number;
  /** A persist worker drains the stream (MongoDB is configured): see QueueRetention. */
  persisted?: boolean;
}

/**
 * DurableQueue on NATS JetStream: a file-backed stream per deployment, a subject per room.
 * `publish` resolves once the stream has acknowledged the message; the msg id "room:seq" makes a
 * re-publish within the duplicate window a no-op (its PubAck says duplicate, which is success).
 * At start-up it creates or updates, idempotently, the queue stream and its dead-letter stream.
 */
export class JetStreamQueue implements DurableQueue {
  readonly names: QueueNames;
  private readonly limits: StreamLimits;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private isConnected = false;
  private publisher: PubAckPublisher | undefined;
  private retention: QueueRetention | undefined;

  constructor(private readonly opts: JetStreamQueueOptions) {
    this.names = queueNames(opts.prefix);
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
  }

  /** True while the NATS connection is up (readiness). */
  get connected(): boolean {
    return this.isConnected && this.nc !== undefined && !this.nc.isClosed();
  }

  get full(): boolean {
    return this.retention?.capacity?.full ?? false;
  }

  /** The stream's fill as last checked by its QueueRetention (metrics). */
  get capacity(): QueueCapacity | undefined {
    return this.retention?.capacity;
  }

  async start(): Promise<void> {
    if (this.nc) return;
    const servers = this.ownServers();
    const owned = servers !== undefined;
    const nc = servers !== undefined ? await connectNats(servers, `parley-queue-${this.opts.prefix}`) : (this.opts.nats as NatsConnection);
    try {
      const jsm = await nc.jetstreamManager();
      const configs = streamConfigs(this.names, this.limits, this.opts.replicas);
      await ensureStream(jsm, { ...configs.queue, name: this.names.stream, subjects: [this.names.subjects] }, this.opts.logger);
      await ensureStream(jsm, { ...configs.dead, name: this.names.deadStream, subjects: [this.names.deadSubjects] }, this.opts.logger);
      this.jsm = jsm;
      this.js = nc.jetstream();
      this.publisher = new PubAckPublisher(nc, this.opts.publishTimeoutMs ?? 5_000);
      await this.publisher.start();
      this.retention = new QueueRetention({ jsm, names: this.names, limits: this.limits, persisted: this.opts.persisted ?? false, logger: this.opts.logger });
      this.retention.start();
    } catch (err) {
      if (owned) await nc.close();
      throw new Error(`setting up the JetStream streams ${this.names.stream} and ${this.names.deadStream} (${this.opts.replicas ?? 1} replicas, QUEUE_REPLICAS) failed: ${(err as Error).message}`, { cause: err });
    }
    this.nc = nc;
    this.isConnected = !nc.isClosed();
    void this.watch(nc);
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    this.jsm = undefined;
    this.publisher?.close();
    this.publisher = undefined;
    this.retention?.close();
    this.retention = undefined;
    this.isConnected = false;
    if (nc && this.ownServers() !== undefined && !nc.isClosed()) {
      await nc.drain().catch((err: unknown) => this.opts.logger.error({ err, stream: this.names.stream }, 'draining the JetStream queue connection failed'));
    }
  }

  async publish(message: ChatMessage, epoch?: string, trace?: TraceContext): Promise<void> {
    this.client();
    const publisher = this.publisher;
    const id = `${message.room}:${message.seq}`;
    const queued: QueuedMessage = epoch === undefined ? message : { ...message, epoch };
    let ack;
    try {
      if (!publisher) throw new Error('not started');
      ack = await publisher.publish(persistSubject(this.opts.prefix, message.room), encoder.encode(JSON.stringify(queued)), id, trace && traceHeaders(trace));
      if (ack.stream !== this.names.stream) throw new Error(`acknowledged by the stream ${ack.stream}`);
    } catch (err) {
      throw new Error(`queueing ${id} on ${this.names.stream} failed: ${(err as Error).message}`, { cause: err });
    }
    if (ack.duplicate) await this.checkDuplicate(id, ack.seq, message);
  }

  /** A moved read pointer, on its way to the store like the messages (at-least-once). */
  async publishRead(pointer: ReadPointer): Promise<void> {
    this.client();
    const id = `read:${pointer.room}:${pointer.user}:${pointer.seq}`;
    try {
      if (!this.publisher) throw new Error('not started');
      await this.publisher.publish(readsSubject(this.opts.prefix, pointer.room), encoder.encode(JSON.stringify(pointer)), id);
    } catch (err) {
      throw new Error(`queueing the read pointer ${id} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * A duplicate PubAck means "room:seq" is already queued; that is success only when it is the
   * same message (a retry). Another message under the id (a seq handed out twice after Redis
   * lost a room mid-send) must not be acknowledged as durable.
   */
  private async checkDuplicate(id: string, streamSeq: number, message: ChatMessage): Promise<void> {
    let stored;
    try {
      stored = await this.manager().streams.getMessage(this.names.stream, { seq: streamSeq });
    } catch (err) {
      // Deleted since: only what the persist consumer had stored is (an erasure, or the trim of
      // persisted messages), and the room's restore points are past it, so the id names the
      // message this is a resend of (the room state matched its cid).
      if (jsErrCode(err) === JS_ERR.noMessageFound) return;
      throw err;
    }
    const other = JSON.parse(decoder.decode(stored.data)) as Partial<ChatMessage>;
    if (other.from !== message.from || other.cid !== message.cid) {
      throw new SeqTakenError(`${id} is already queued for another message (${String(other.from)}/${String(other.cid)})`);
    }
  }

  /**
   * The room's durable tail as the queue holds it: the epoch of its last queued message, the
   * highest seq of that epoch, and its messages of that epoch queued within `lastSeqScanMs`
   * before the last one, or from `sinceTs` when earlier (they restore the room's recent buffer
   * and dedupe entries, and tell which pending messages are durable). Undefined
   * when nothing is queued for the room. Messages older than the stream's max age are MongoDB's
   * to answer for.
   */
  async lastPosition(room: string, opts: { sinceTs?: number } = {}): Promise<DurableTail | undefined> {
    const jsm = this.manager();
    const subject = persistSubject(this.opts.prefix, room);
    let last;
    try {
      last = await jsm.streams.getMessage(this.names.stream, { last_by_subj: subject });
    } catch (err) {
      if (jsErrCode(err) === JS_ERR.noMessageFound) return undefined;
      throw new Error(`reading the last queued message of ${room} failed: ${(err as Error).message}`, { cause: err });
    }
    const newest = readQueued(last.data);
    const epoch = newest?.epoch;
    const bySeq = new Map<number, ChatMessage>();
    const keep = (m: QueuedMessage | undefined): void => {
      if (!m || m.room !== room || m.epoch !== epoch) return;
      const { epoch: _epoch, ...message } = m;
      // The first copy of a seq in the stream is the one the workers store (a second one, put
      // there after the duplicate window by a seq handed out twice, is dead-lettered).
      if (!bySeq.has(m.seq)) bySeq.set(m.seq, message);
    };
    const scanMs = this.opts.lastSeqScanMs ?? 10 * 60_000;
    // Back to the oldest message the caller still holds as pending, if that is earlier (a second
    // of slack: `ts` is the gateway's clock, the stream's time the server's).
    const from = Math.min(last.time.getTime() - scanMs, (opts.sinceTs ?? Infinity) - 1_000);
    if (scanMs > 0 || opts.sinceTs !== undefined) await this.scan(room, subject, last.seq, new Date(from), keep);
    keep(newest);
    const messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    return { epoch, seq: messages.at(-1)?.seq ?? 0, messages };
  }

  /** Deletes the room's queued events `match` picks, those already stored (queue-erasure.ts). */
  erase(room: string, match: (e: QueuedEventHead) => boolean): Promise<QueueErasureResult> {
    const deps = { js: this.client(), jsm: this.manager(), names: this.names, prefix: this.opts.prefix, persisted: this.opts.persisted ?? false };
    return eraseQueued(deps, room, match);
  }

  /** The highest seq among the room's queued messages of its newest epoch (0 when none). */
  async lastSeq(room: string): Promise<number> {
    return (await this.lastPosition(room))?.seq ?? 0;
  }

  /** Reads the room's messages from `since` up to stream seq `upTo`, within SCAN_DEADLINE_MS. */
  private async scan(room: string, subject: string, upTo: number, since: Date, keep: (m: QueuedMessage | undefined) => void): Promise<void> {
    const consumer = await this.client().consumers.get(this.names.stream, {
      filterSubjects: subject,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: since.toISOString(),
    });
    const messages = await consumer.consume({ max_messages: 1000 });
    const deadline = setTimeout(() => void messages.close(), SCAN_DEADLINE_MS);
    let reached = false;
    try {
      for await (const m of messages) {
        keep(readQueued(m.data));
        reached = m.seq >= upTo || m.info.pending === 0;
        if (reached) break;
      }
    } finally {
      clearTimeout(deadline);
      await messages.close();
    }
    if (!reached) throw new Error(`scanning the queued messages of ${room} did not reach stream seq ${upTo} in time`);
  }

  /** The servers to connect to, or undefined when the caller passed its own connection. */
  private ownServers(): NatsServers | undefined {
    const { nats } = this.opts;
    return typeof nats === 'string' || Array.isArray(nats) ? (nats as NatsServers) : undefined;
  }

  private client(): JetStreamClient {
    if (!this.js || !this.nc || this.nc.isClosed()) throw new Error(`the JetStream queue ${this.names.stream} is not started`);
    return this.js;
  }

  private manager(): JetStreamManager {
    this.client();
    return this.jsm as JetStreamManager;
  }

  private async watch(nc: NatsConnection): Promise<void> {
    const own = this.ownServers();
    const servers = own !== undefined ? describeServers(own) : undefined;
    for await (const s of nc.status()) {
      if (this.nc !== nc) return;
      if (s.type === Events.Disconnect) {
        this.isConnected = false;
        this.opts.logger.warn({ server: s.data, servers, stream: this.names.stream }, 'JetStream queue disconnected from NATS');
      } else if (s.type === Events.Reconnect) {
        this.isConnected = true;
        this.opts.logger.info({ server: s.data, servers, stream: this.names.stream }, 'JetStream queue reconnected to NATS');
      }
    }
  }
}

/**
 * A queued message's fields, or undefined for one that cannot be read (the worker dead-letters
 * those): only what a restore needs is checked here.
 */
function readQueued(data: Uint8Array): QueuedMessage | undefined {
  try {
    const m = JSON.parse(decoder.decode(data)) as Partial<QueuedMessage>;
    if (typeof m.room !== 'string' || typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq) || m.seq < 1) return undefined;
    if (typeof m.cid !== 'string' || typeof m.from !== 'string' || typeof m.body !== 'string' || typeof m.ts !== 'number') return undefined;
    const extra = eventFields(m);
    if (!extra.ok) return undefined;
    const message: QueuedMessage = { room: m.room, seq: m.seq, cid: m.cid, from: m.from, body: m.body, ts: m.ts };
    if (m.meta !== undefined && typeof m.meta === 'object' && m.meta !== null) message.meta = m.meta;
    Object.assign(message, extra.fields);
    if (typeof m.epoch === 'string' && m.epoch.length > 0) message.epoch = m.epoch;
    return message;
  } catch {
    return undefined;
  }
}
