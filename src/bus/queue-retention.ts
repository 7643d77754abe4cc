import type { JetStreamManager, SeqMsgRequest, StreamInfo } from 'nats';
import type { Logger } from '../shared/logger.js';
import { jsErrCode, JS_ERR, type QueueNames, type StreamLimits } from './jetstream-streams.js';

/**
 * Why the queue stream discards nothing itself (DiscardPolicy.New, no max_age) and this trims it.
 *
 * The stream is both the hand-off to the persist workers and what gateways read back to restore
 * a room Redis lost (`lastSeq`), so persisted messages stay in it as long as there is room and
 * QUEUE_MAX_AGE_S allows. With DiscardPolicy.Old, JetStream made room by dropping the oldest
 * messages whatever their state: during a long MongoDB outage, acknowledged messages the workers
 * had not stored yet. A guard that refuses sends on an estimate, checked on a timer, races every
 * gateway's publishes and can still let JetStream drop one. So JetStream refuses instead (exactly,
 * at max_bytes, for every publisher at once: the send is answered `overloaded` and retried), and
 * every process holding the queue trims, on a timer, only messages the persist consumer has
 * acknowledged: the oldest of them once the stream passes TRIM_ABOVE of max_bytes, and those
 * older than QUEUE_MAX_AGE_S. A stream full of persisted messages thus refuses nothing for long.
 *
 * Without a persist consumer and without MongoDB configured (README, "Modes") the stream is the
 * only copy and its documented retention is by age and size: every message is trimmed as if
 * persisted. With MongoDB configured and no consumer yet, nothing counts as persisted.
 */
const TRIM_ABOVE = 0.8;
/** Trimming stops here (or when only unpersisted messages are left). */
const TRIM_TO = 0.7;
/** Unpersisted messages filling this share of max_bytes: a backlog worth a warning. */
const FILLING_AT = 0.5;
/** ...this share: the stream refuses sends, or is about to. */
const FULL_AT = 0.95;
/** `full` ends below this share, so a backlog hovering at the limit is one episode, not many. */
const FULL_UNTIL = 0.8;

/** What the last check found. Sizes of messages are estimated from the stream's average. */
export interface QueueCapacity {
  maxBytes: number;
  bytes: number;
  messages: number;
  /** Messages the persist consumer has not acknowledged (0 when the stream is the only copy). */
  unpersistedMessages: number;
  unpersistedBytes: number;
  /** Unpersisted messages fill the stream: sends are refused (`overloaded`), or about to be. */
  full: boolean;
}

export interface QueueRetentionOptions {
  jsm: JetStreamManager;
  names: QueueNames;
  limits: Pick<StreamLimits, 'maxBytes' | 'maxAgeMs'>;
  /** A persist worker drains this stream (MongoDB is configured): see above. */
  persisted: boolean;
  logger: Logger;
  /** Time between checks. */
  intervalMs?: number;
}

type Level = 'ok' | 'filling' | 'full';

/** Trims the queue stream of persisted messages and watches the unpersisted backlog; one per process. */
export class QueueRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private last: QueueCapacity | undefined;
  private episode: { since: number; level: Level; peak: number } | undefined;
  private failing = false;
  /** The oldest message's seq and time, once read: it only changes when the stream is trimmed. */
  private oldest: { seq: number; ts: number } | undefined;

  constructor(private readonly opts: QueueRetentionOptions) {}

  /** The last check's findings; undefined before the first one. */
  get capacity(): QueueCapacity | undefined {
    return this.last;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs ?? 1_000);
    this.timer.unref();
    void this.check();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check (trim, then measure); a check already running is awaited instead. Never rejects. */
  check(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const { jsm, names, logger } = this.opts;
    try {
      let info = await jsm.streams.info(names.stream);
      const floor = await this.releasableFloor(info);
      const upto = await this.trimmable(info, floor);
      if (upto >= info.state.first_seq) {
        await jsm.streams.purge(names.stream, { seq: upto + 1 });
        info = await jsm.streams.info(names.stream);
      }
      this.measured(info, floor);
      if (this.failing) logger.info({ stream: names.stream }, 'checking the queue stream works again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) logger.error({ err, stream: names.stream }, 'checking or trimming the queue stream failed; retrying every interval');
      this.failing = true;
    }
  }

  /** The highest stream seq that may be trimmed: the persist consumer's ack floor. */
  private async releasableFloor(info: StreamInfo): Promise<number> {
    try {
      return (await this.opts.jsm.consumers.info(this.opts.names.stream, this.opts.names.consumer)).ack_floor.stream_seq;
    } catch (err) {
      if (jsErrCode(err) !== JS_ERR.consumerNotFound) throw err;
      return this.opts.persisted ? 0 : info.state.last_seq;
    }
  }

  /** The highest seq to purge (below first_seq: none), never above `floor`. */
  private async trimmable(info: StreamInfo, floor: number): Promise<number> {
    const { bytes, messages, first_seq: first } = info.state;
    const top = Math.min(floor, info.state.last_seq);
    if (messages === 0 || top < first) return first - 1;
    let upto = first - 1;
    const { maxBytes, maxAgeMs } = this.opts.limits;
    if (bytes > TRIM_ABOVE * maxBytes) upto = Math.min(top, first - 1 + Math.ceil((bytes - TRIM_TO * maxBytes) / (bytes / messages)));
    if (maxAgeMs > 0) upto = Math.max(upto, await this.lastOlderThan(Date.now() - maxAgeMs, first, top));
    return upto;
  }

  /** The highest seq in [first, top] of a message older than `cutoff` (first - 1 if none): times grow with seqs. */
  private async lastOlderThan(cutoff: number, first: number, top: number): Promise<number> {
    if (this.oldest?.seq !== first) this.oldest = await this.at(first);
    if (this.oldest === undefined || this.oldest.ts >= cutoff || this.oldest.seq > top) return first - 1;
    let lo = this.oldest.seq;
    let hi = top + 1;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await this.at(mid);
      if (m === undefined || m.seq >= hi || m.ts >= cutoff) hi = mid;
      else lo = m.seq;
    }
    return Math.min(lo, top);
  }

  /** The first message at or after `seq` (another process may have trimmed `seq` meanwhile). */
  private async at(seq: number): Promise<{ seq: number; ts: number } | undefined> {
    // STREAM.MSG.GET takes next_by_subj since nats-server 2.9; nats.js types it for direct gets only.
    const request: SeqMsgRequest & { next_by_subj: string } = { seq, next_by_subj: this.opts.names.subjects };
    try {
      const m = await this.opts.jsm.streams.getMessage(this.opts.names.stream, request);
      return { seq: m.seq, ts: m.time.getTime() };
    } catch (err) {
      if (jsErrCode(err) === JS_ERR.noMessageFound) return undefined;
      throw err;
    }
  }

  private measured(info: StreamInfo, floor: number): void {
    const { bytes, messages, first_seq: first, last_seq: last } = info.state;
    const released = Math.max(0, Math.min(floor, last) - first + 1);
    const unpersistedMessages = Math.max(0, messages - released);
    const unpersistedBytes = messages === 0 ? 0 : Math.round((unpersistedMessages * bytes) / messages);
    const { maxBytes } = this.opts.limits;
    const share = unpersistedBytes / maxBytes;
    const full = share >= FULL_AT || (this.last?.full === true && share >= FULL_UNTIL);
    this.last = { maxBytes, bytes, messages, unpersistedMessages, unpersistedBytes, full };
    this.report(full ? 'full' : share >= FILLING_AT ? 'filling' : 'ok', share, { first, floor });
  }

  /** One log line when a backlog episode starts, one when it first fills the stream, one when it ends. */
  private report(level: Level, share: number, seqs: { first: number; floor: number }): void {
    const { logger, names } = this.opts;
    const context = { stream: names.stream, consumer: names.consumer, ...this.last, unpersistedShare: Number(share.toFixed(3)), firstSeq: seqs.first, ackFloor: seqs.floor };
    if (level === 'ok') {
      if (this.episode && share < FILLING_AT * 0.8) {
        logger.info({ ...context, episodeMs: Date.now() - this.episode.since, peakShare: Number(this.episode.peak.toFixed(3)) }, 'the queue backlog of unpersisted messages is back to normal');
        this.episode = undefined;
      }
      return;
    }
    if (!this.episode) {
      this.episode = { since: Date.now(), level: 'filling', peak: share };
      logger.warn(context, 'unpersisted messages fill half the queue stream: are the persist workers and MongoDB up? sends are refused once they fill it');
    }
    this.episode.peak = Math.max(this.episode.peak, share);
    if (level === 'full' && this.episode.level !== 'full') {
      this.episode.level = 'full';
      logger.error(context, 'the queue stream is full of unpersisted messages: sends are refused (overloaded) until the persist workers store them');
    }
  }
}
