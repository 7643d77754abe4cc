import { type JetStreamClient, type JetStreamManager } from 'nats';
import { jsErrCode, JS_ERR, persistSubject, type QueueNames } from './jetstream-streams.js';

const decoder = new TextDecoder();
/** Upper bound on one room's scan. */
const SCAN_DEADLINE_MS = 30_000;

/** The fields of a queued event an erasure looks at. */
export interface QueuedEventHead {
  room: string;
  seq: number;
  from: string;
  op?: string;
  target?: number;
}

export interface QueueErasureResult {
  /** Queued events deleted (and overwritten) in the stream. */
  removed: number;
  /** Matching events left in the stream: the persist consumer has not stored them yet. */
  kept: number;
}

export interface QueueErasureDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: QueueNames;
  prefix: string;
  /** A persist consumer stores the stream in MongoDB: only what it acknowledged may go. */
  persisted: boolean;
}

/**
 * Deletes from the queue stream the events of `room` that `match` picks (docs/admin-api.md,
 * "Erasing a user's messages"), by stream seq with JetStream's secure erase (the stored bytes
 * are overwritten). Only events the persist consumer has acknowledged go: an event still on its
 * way to MongoDB stays (it is counted in `kept`), because deleting it would leave a hole in the
 * stored sequence; the tombstone's fold blanks it in MongoDB when it arrives, and the stream
 * forgets it by age (QUEUE_MAX_AGE_S, RETENTION_DAYS). Without MongoDB the stream is the only
 * durable copy a restore reads, so nothing is deleted from it (every match is `kept`).
 */
export async function eraseQueued(deps: QueueErasureDeps, room: string, match: (e: QueuedEventHead) => boolean): Promise<QueueErasureResult> {
  const { js, jsm, names } = deps;
  const subject = persistSubject(deps.prefix, room);
  let last: number;
  try {
    last = (await jsm.streams.getMessage(names.stream, { last_by_subj: subject })).seq;
  } catch (err) {
    if (jsErrCode(err) === JS_ERR.noMessageFound) return { removed: 0, kept: 0 };
    throw err;
  }
  const floor = deps.persisted ? await ackFloor(jsm, names) : 0;
  // From the start: the default (nats.js 2.x does not deliver with an explicit DeliverPolicy.All).
  const consumer = await js.consumers.get(names.stream, { filterSubjects: subject });
  const messages = await consumer.consume({ max_messages: 1000 });
  const deadline = setTimeout(() => void messages.close(), SCAN_DEADLINE_MS);
  const found: number[] = [];
  let kept = 0;
  let reached = false;
  try {
    for await (const m of messages) {
      const e = readHead(m.data);
      if (e && match(e)) {
        if (m.seq <= floor) found.push(m.seq);
        else kept++;
      }
      reached = m.seq >= last || m.info.pending === 0;
      if (reached) break;
    }
  } finally {
    clearTimeout(deadline);
    await messages.close();
  }
  if (!reached) throw new Error(`scanning the queued events of ${room} did not reach stream seq ${last} in time`);
  let removed = 0;
  for (const seq of found) {
    try {
      if (await jsm.streams.deleteMessage(names.stream, seq, true)) removed++;
    } catch (err) {
      // Trimmed meanwhile (retention, another erasure): nothing left to delete.
      if (jsErrCode(err) !== JS_ERR.noMessageFound) throw err;
    }
  }
  return { removed, kept };
}

async function ackFloor(jsm: JetStreamManager, names: QueueNames): Promise<number> {
  try {
    return (await jsm.consumers.info(names.stream, names.consumer)).ack_floor.stream_seq;
  } catch (err) {
    if (jsErrCode(err) === JS_ERR.consumerNotFound) return 0;
    throw err;
  }
}

function readHead(data: Uint8Array): QueuedEventHead | undefined {
  try {
    const m = JSON.parse(decoder.decode(data)) as Partial<QueuedEventHead>;
    if (typeof m.room !== 'string' || typeof m.seq !== 'number' || typeof m.from !== 'string') return undefined;
    return { room: m.room, seq: m.seq, from: m.from, ...(typeof m.op === 'string' ? { op: m.op } : {}), ...(typeof m.target === 'number' ? { target: m.target } : {}) };
  } catch {
    return undefined;
  }
}
