import type { JetStreamManager, MsgHdrs, SeqMsgRequest, StoredMsg } from 'nats';
import { jsErrCode, JS_ERR, type QueueNames } from '../bus/jetstream-streams.js';
import type { PubAckPublisher } from '../bus/pub-ack-publisher.js';
import { DEAD_HEADERS, eventHeaders, readEventHeaders } from './webhook-event.js';
import type { WebhookCounts } from './webhook-metrics.js';
import { hookSubject, partitionOf, type WebhookNames } from './webhook-streams.js';

/** An event waiting for delivery: `seq` is its position in the webhook stream. */
export interface PendingEvent {
  seq: number;
  id: string;
  type: string;
  room: string;
  ts: number;
}

/** A dead-lettered event: `seq` (its position in the dead-letter stream) names it for a replay. */
export interface FailedEvent extends PendingEvent {
  attempts: number;
  reason: string;
  error: string;
  failedAt: string;
}

export interface Page<T> {
  items: T[];
  /** The cursor of the next page, or null. */
  next: string | null;
}

export type ReplayOutcome = 'replayed' | 'missing' | 'unreadable';

export interface WebhookAdminDeps {
  jsm: JetStreamManager;
  publisher: PubAckPublisher;
  prefix: string;
  partitions: number;
  names: WebhookNames;
  queue: QueueNames;
}

const decoder = new TextDecoder();

/**
 * What the admin API and the metrics read of the webhook streams, and replays of dead letters:
 * a replay queues the event again, unchanged (same body, same id), at the end of its room's
 * partition, then removes the dead letter.
 */
export class WebhookAdmin {
  constructor(private readonly deps: WebhookAdminDeps) {}

  async summary(): Promise<WebhookCounts> {
    const { jsm, names, queue } = this.deps;
    const [hooks, dead, relay] = await Promise.all([
      jsm.streams.info(names.stream),
      jsm.streams.info(names.deadStream),
      jsm.consumers.info(queue.stream, names.relayConsumer).catch((err: unknown) => {
        if (jsErrCode(err) === JS_ERR.consumerNotFound) return undefined;
        throw err;
      }),
    ]);
    return { pending: hooks.state.messages, relaying: relay ? relay.num_pending + relay.num_ack_pending : 0, failed: dead.state.messages };
  }

  async pending(cursor: number | undefined, limit: number): Promise<Page<PendingEvent>> {
    const { names } = this.deps;
    const page = await this.read(names.stream, names.subjects, cursor, limit);
    return { items: page.items.map((m) => ({ seq: m.seq, ...summarize(m.data) })), next: page.next };
  }

  async failed(cursor: number | undefined, limit: number): Promise<Page<FailedEvent>> {
    const { names } = this.deps;
    const page = await this.read(names.deadStream, names.deadSubjects, cursor, limit);
    return { items: page.items.map(failedEvent), next: page.next };
  }

  /** Queues the dead letter at `seq` again and removes it. */
  async replay(seq: number): Promise<ReplayOutcome> {
    const m = await this.at(this.deps.names.deadStream, seq, undefined);
    if (m === undefined || m.seq !== seq) return 'missing';
    return this.requeue(m);
  }

  /** Replays every dead letter there is now; unreadable ones stay. */
  async replayAll(): Promise<{ replayed: number; skipped: number }> {
    const { names } = this.deps;
    const last = (await this.deps.jsm.streams.info(names.deadStream)).state.last_seq;
    let replayed = 0;
    let skipped = 0;
    for (let seq = 1; seq <= last; ) {
      const m = await this.at(names.deadStream, seq, names.deadSubjects);
      if (m === undefined || m.seq > last) break;
      if ((await this.requeue(m)) === 'replayed') replayed++;
      else skipped++;
      seq = m.seq + 1;
    }
    return { replayed, skipped };
  }

  private async requeue(m: StoredMsg): Promise<ReplayOutcome> {
    const { prefix, partitions, publisher, jsm, names } = this.deps;
    const head = readEventHeaders(m.header);
    if (head === undefined) return 'unreadable';
    const ack = await publisher.publish(hookSubject(prefix, partitionOf(head.room, partitions), head.room), m.data, `replay:${m.seq}`, eventHeaders(head));
    if (ack.stream !== names.stream) throw new Error(`the replay of ${head.id} was acknowledged by the stream ${ack.stream}`);
    await jsm.streams.deleteMessage(names.deadStream, m.seq, false);
    return 'replayed';
  }

  private async read(stream: string, subjects: string, cursor: number | undefined, limit: number): Promise<{ items: StoredMsg[]; next: string | null }> {
    const items: StoredMsg[] = [];
    let seq = cursor ?? 1;
    for (;;) {
      const m = await this.at(stream, seq, subjects);
      if (m === undefined) return { items, next: null };
      if (items.length === limit) return { items, next: String(m.seq) };
      items.push(m);
      seq = m.seq + 1;
    }
  }

  /** The message at `seq`, or with `subjects` the first one at or after it. */
  private async at(stream: string, seq: number, subjects: string | undefined): Promise<StoredMsg | undefined> {
    // STREAM.MSG.GET takes next_by_subj since nats-server 2.9; nats.js types it for direct gets only.
    const request: SeqMsgRequest & { next_by_subj?: string } = subjects === undefined ? { seq } : { seq, next_by_subj: subjects };
    try {
      return await this.deps.jsm.streams.getMessage(stream, request);
    } catch (err) {
      if (jsErrCode(err) === JS_ERR.noMessageFound) return undefined;
      throw err;
    }
  }
}

function header(h: MsgHdrs | undefined, name: string): string {
  return h?.get(name) ?? '';
}

/** id, type, room and ts of an event body ('' and 0 where it cannot be read). */
function summarize(data: Uint8Array): Omit<PendingEvent, 'seq'> {
  let e: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(decoder.decode(data));
    if (typeof parsed === 'object' && parsed !== null) e = parsed as Record<string, unknown>;
  } catch {
    // an unreadable body lists as empty fields
  }
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return { id: text(e['id']), type: text(e['type']), room: text(e['room']), ts: typeof e['ts'] === 'number' ? e['ts'] : 0 };
}

function failedEvent(m: StoredMsg): FailedEvent {
  const h = m.header;
  return {
    seq: m.seq,
    ...summarize(m.data),
    attempts: Number(header(h, DEAD_HEADERS.attempts)) || 0,
    reason: header(h, DEAD_HEADERS.reason),
    error: header(h, DEAD_HEADERS.detail),
    failedAt: header(h, DEAD_HEADERS.failedAt) || m.time.toISOString(),
  };
}
