import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Filter, type WriteError } from 'mongodb';
import type { ChatMessage } from '../domain/messages.js';
import { toDoc, type MessageDoc } from './mongo-docs.js';
import { DUPLICATE_KEY, isTransientMongoError } from './mongo-errors.js';

/**
 * A message that cannot be stored because another one holds its (room, seq). A `cid` is no
 * key here: deduping a resend is the room state's job within DEDUPE_TTL_S, and after that
 * window a client may reuse a `cid` for a new message, stored under its own seq.
 */
export interface StoreConflict {
  message: ChatMessage;
  reason: 'seq-taken';
  existing: { seq: number; from: string; cid: string };
}

export interface PutResult {
  /** Never stored: another message owns the slot. Retrying cannot help. */
  conflicts: StoreConflict[];
  /** Refused by the database for a reason of their own (e.g. an invalid `meta` key). */
  rejected: { message: ChatMessage; error: Error }[];
  /** Stored changes and replies not folded into their message, which is not stored yet: put them again later. */
  unfolded: ChatMessage[];
}

/** `put` found conflicts or rejected messages; every other message of the call was stored. */
export class StoreWriteError extends Error {
  override readonly name = 'StoreWriteError';
  constructor(readonly result: PutResult) {
    const first = result.conflicts[0]?.message ?? result.rejected[0]?.message ?? result.unfolded[0];
    super(`${result.conflicts.length} conflicting, ${result.rejected.length} rejected and ${result.unfolded.length} unfolded messages (first: ${first?.room}:${first?.seq})`);
  }
}

/** How a batch is written: MongoMessageStoreOptions.write. */
export type WriteMode = 'insert' | 'upsert';

/**
 * The insert half of MongoMessageStore.putChecked: one bulkWrite when nothing was there before;
 * a read-back, and a retry of what a server that stops at the first error (FerretDB) left
 * unwritten, otherwise. What cannot be stored is recorded in `result`.
 */
export async function insertMessages(docs: Collection<MessageDoc>, mode: WriteMode, messages: readonly ChatMessage[], result: PutResult): Promise<void> {
  let pending = [...messages];
  while (pending.length > 0) {
    const outcome = await write(docs, mode, pending);
    if (outcome.clean) break;
    const unwritten = await settle(docs, pending, result);
    const retry: ChatMessage[] = [];
    for (const m of unwritten) {
      const error = outcome.refused.get(m);
      if (error) result.rejected.push({ message: m, error });
      else retry.push(m);
    }
    if (retry.length >= pending.length) {
      // No progress (a server that stops at its first error): one write per message isolates the refused ones.
      const [only] = retry;
      if (only && retry.length === 1) {
        const reason = outcome.error?.message ?? 'not stored, no error reported';
        result.rejected.push({ message: only, error: new Error(`${only.room}:${only.seq} refused: ${reason}`, { cause: outcome.error }) });
        break;
      }
      for (const m of retry) await insertMessages(docs, mode, [m], result);
      break;
    }
    pending = retry;
  }
}

/** One unordered bulkWrite; `refused` maps messages to their own non-duplicate errors (insert mode). */
async function write(docs: Collection<MessageDoc>, mode: WriteMode, batch: ChatMessage[]): Promise<{ clean: boolean; refused: Map<ChatMessage, Error>; error?: Error }> {
  const ops: AnyBulkWriteOperation<MessageDoc>[] =
    mode === 'insert'
      ? batch.map((m) => ({ insertOne: { document: toDoc(m) } }))
      : batch.map((m) => ({ updateOne: { filter: { room: m.room, seq: m.seq }, update: { $setOnInsert: toDoc(m) }, upsert: true } }));
  try {
    const r = await docs.bulkWrite(ops, { ordered: false });
    return { clean: mode === 'insert' || r.upsertedCount === batch.length, refused: new Map() };
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError()) throw err;
    const refused = new Map<ChatMessage, Error>();
    const writeErrors = ([] as WriteError[]).concat(err.writeErrors);
    // A batch refused whole (FerretDB aborts on one bad document) makes no progress, so
    // insertMessages falls back to one write per message and isolates the refused one.
    if (writeErrors.length === 0) {
      if (isTransientMongoError(err)) throw err;
      return { clean: false, refused: new Map(), error: err };
    }
    // FerretDB reports upsert errors at the wrong index: only inserts are attributed.
    const attributable = mode === 'insert' ? writeErrors : [];
    for (const we of attributable) {
      const m = batch[we.index];
      if (m && we.code !== DUPLICATE_KEY) refused.set(m, new Error(`${m.room}:${m.seq} refused: ${we.errmsg ?? `code ${we.code}`}`));
    }
    return { clean: false, refused, error: err };
  }
}

/** Reads back what `batch` left behind: records conflicts, returns messages found nowhere. */
async function settle(docs: Collection<MessageDoc>, batch: ChatMessage[], result: PutResult): Promise<ChatMessage[]> {
  const seqsByRoom = new Map<string, number[]>();
  for (const m of batch) {
    const seqs = seqsByRoom.get(m.room);
    if (seqs) seqs.push(m.seq);
    else seqsByRoom.set(m.room, [m.seq]);
  }
  const filters: Filter<MessageDoc>[] = [...seqsByRoom].map(([room, seqs]) => ({ room, seq: { $in: seqs } }));
  const found = await docs.find({ $or: filters }, { projection: { _id: 0, room: 1, seq: 1, from: 1, cid: 1 } }).toArray();
  const slots = new Map(found.map((d) => [`${d.room}\u0000${d.seq}`, { seq: d.seq, from: d.from, cid: d.cid }]));
  const unwritten: ChatMessage[] = [];
  for (const m of batch) {
    const s = slots.get(`${m.room}\u0000${m.seq}`);
    if (!s) unwritten.push(m);
    else if (s.from !== m.from || s.cid !== m.cid) result.conflicts.push({ message: m, reason: 'seq-taken', existing: s });
  }
  return unwritten;
}
