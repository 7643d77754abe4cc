import {
  MongoBulkWriteError,
  MongoClient,
  MongoError,
  type AnyBulkWriteOperation,
  type Collection,
  type Filter,
  type WriteError,
} from 'mongodb';
import type { ChatMessage, ReadPointer } from '../domain/messages.js';
import type { DurableTail } from '../domain/durable-position.js';
import type { SummaryState } from '../domain/summary.js';
import type { MessageQuery, MessageStore } from './message-store.js';
import { toDoc, toEvent, toMessage, toSummaryState, type MessageDoc } from './mongo-docs.js';
import { databaseOf, isTransientMongoError } from './mongo-errors.js';
import type { ErasableStore, MessageRef } from './erasable-store.js';
import { authoredDocs, authoredRooms, blankDocs } from './mongo-erasure.js';
import { foldChanges } from './mongo-folds.js';
import { ensureTtlIndex, sweepExpired, type RetentionIndex } from './mongo-retention.js';

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

export interface MongoMessageStoreOptions {
  url: string;
  /** The database; by default the url's path, else "parley". */
  dbName?: string;
  /**
   * How a batch is written, both in ONE unordered bulkWrite and verified the same way.
   * 'insert' (default): inserts; a duplicate-key error means "already stored", then checked.
   * 'upsert': updateOne by (room, seq) with `$setOnInsert` of the document. Equivalent, but
   * FerretDB v1 runs upserts about 30x slower than inserts (bench/persist-worker.ts).
   */
  write?: 'insert' | 'upsert';
  /** How long an operation waits for a reachable server before it fails (transiently). */
  serverSelectionTimeoutMS?: number;
  /**
   * `lastPosition` also returns the room's messages stored within this many ms before its newest
   * one (DEDUPE_TTL_S on gateways), to restore their dedupe entries; 0 (default) returns none.
   */
  tailMs?: number;
  /** REACTION_USERS_SHOWN: users named per reaction in the messages read (default 10). */
  usersShown?: number;
  /**
   * RETENTION_DAYS in ms, given by the process that manages the TTL index (the worker): start()
   * creates, changes or drops it (mongo-retention.ts). Left out, the index is left as it is.
   */
  retentionMs?: number;
}

const DUPLICATE_KEY = 11000;
/** Most messages `lastPosition` returns for the dedupe window. */
const TAIL_LIMIT = 10_000;
const INDEX_NOT_FOUND = 27;
/** The unique (room, from, cid) index of earlier versions: it refused a cid reused after the dedupe window. */
const OLD_CID_INDEX = 'room_from_cid';

/**
 * MessageStore on MongoDB (FerretDB in tests): collection `messages`, keyed by a unique index
 * on (room, seq) created at start-up (and `reads`, unique on (room, user, seq)).
 *
 * `putChecked` stores a batch idempotently and reports what could not be stored; `put` is
 * `putChecked` that throws StoreWriteError when anything was not stored. Connection and
 * server-selection failures are thrown as they are: `isTransient` tells them apart.
 */
export class MongoMessageStore implements MessageStore, ErasableStore {
  private readonly client: MongoClient;
  private readonly docs: Collection<MessageDoc>;
  private readonly reads: Collection<ReadPointer>;
  private readonly mode: 'insert' | 'upsert';
  private readonly usersShown: number;
  private started = false;
  private index: RetentionIndex | undefined;

  constructor(private readonly opts: MongoMessageStoreOptions) {
    this.client = new MongoClient(opts.url, { serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS ?? 5_000, appName: 'parley' });
    const db = this.client.db(opts.dbName ?? databaseOf(opts.url) ?? 'parley');
    this.docs = db.collection<MessageDoc>('messages');
    this.reads = db.collection<ReadPointer>('reads');
    this.mode = opts.write ?? 'insert';
    this.usersShown = opts.usersShown ?? 10;
  }

  get databaseName(): string {
    return this.docs.dbName;
  }

  /** How expired messages are deleted, once started with `retentionMs`. */
  get retentionIndex(): RetentionIndex | undefined {
    return this.index;
  }

  /** Deletes at most `limit` events older than `cutoff` (ms); how many (mongo-retention.ts). */
  expire(cutoff: number, limit: number): Promise<number> {
    return sweepExpired(this.docs, cutoff, limit);
  }

  authored(user: string, opts: { room?: string | undefined; limit: number }): Promise<MessageRef[]> {
    return authoredDocs(this.docs, user, opts);
  }

  authoredRooms(user: string): Promise<string[]> {
    return authoredRooms(this.docs, user);
  }

  blank(room: string, seqs: readonly number[]): Promise<number> {
    return blankDocs(this.docs, room, seqs);
  }

  async start(): Promise<void> {
    if (this.started) return;
    try {
      await this.client.connect();
      // One index per command: FerretDB 1.24 panics on a multi-index createIndexes whose indexes all exist.
      await this.docs.createIndex({ room: 1, seq: 1 }, { name: 'room_seq', unique: true });
      await this.dropOldCidIndex();
      await this.docs.createIndex({ room: 1, parent: 1, seq: 1 }, { name: 'room_parent_seq' });
      await this.docs.createIndex({ room: 1, target: 1 }, { name: 'room_target' });
      await this.reads.createIndex({ room: 1, user: 1, seq: 1 }, { name: 'room_user_seq', unique: true });
      // An erasure finds a user's messages (mongo-erasure.ts).
      await this.docs.createIndex({ from: 1, room: 1, seq: 1 }, { name: 'from_room_seq' });
      if (this.opts.retentionMs !== undefined) this.index = await ensureTtlIndex(this.docs, this.opts.retentionMs);
    } catch (err) {
      // The client may hold sockets by now: close() (which callers owe a started component) frees them.
      throw new Error(`opening the message store ${this.docs.dbName}.messages failed: ${(err as Error).message}`, { cause: err });
    }
    this.started = true;
  }

  /**
   * Drops the unique (room, from, cid) index a deployment of an earlier version has. Idempotent
   * and safe when several processes start at once: the index is looked up by name (FerretDB
   * 1.24 accepts a createIndex whose options differ from the existing index without an error,
   * so "create it non-unique" would not replace it), and a concurrent drop's IndexNotFound (27,
   * which FerretDB answers too) means it is gone.
   */
  private async dropOldCidIndex(): Promise<void> {
    const indexes = await this.docs.indexes();
    if (!indexes.some((i) => i.name === OLD_CID_INDEX && i.unique === true)) return;
    try {
      await this.docs.dropIndex(OLD_CID_INDEX);
    } catch (err) {
      if (!(err instanceof MongoError && err.code === INDEX_NOT_FOUND)) throw err;
    }
  }

  async close(): Promise<void> {
    this.started = false;
    await this.client.close();
  }

  /** `putChecked` that throws StoreWriteError when anything was not stored (or not folded). */
  async put(messages: readonly ChatMessage[]): Promise<void> {
    const result = await this.putChecked(messages);
    if (result.conflicts.length > 0 || result.rejected.length > 0 || result.unfolded.length > 0) throw new StoreWriteError(result);
  }

  /**
   * Stores every message whose (room, seq) is free, and accepts as already stored those found
   * under their (room, seq) with the same `from` and `cid`; then folds the stored changes and
   * replies into their messages (mongo-folds.ts), idempotently.
   */
  async putChecked(messages: readonly ChatMessage[]): Promise<PutResult> {
    const result: PutResult = { conflicts: [], rejected: [], unfolded: [] };
    await this.insert(messages, result);
    const failed = new Set([...result.conflicts, ...result.rejected].map((r) => r.message));
    const folding = messages.filter((m) => (m.op !== undefined || m.parent !== undefined) && !failed.has(m));
    if (folding.length > 0) result.unfolded = await foldChanges(this.docs, folding);
    return result;
  }

  /**
   * The insert half of putChecked: one bulkWrite when nothing was there before; a read-back,
   * and a retry of what a server that stops at the first error (FerretDB) left unwritten, otherwise.
   */
  private async insert(messages: readonly ChatMessage[], result: PutResult): Promise<void> {
    let pending = [...messages];
    while (pending.length > 0) {
      const outcome = await this.write(pending);
      if (outcome.clean) break;
      const unwritten = await this.settle(pending, result);
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
        for (const m of retry) await this.insert([m], result);
        break;
      }
      pending = retry;
    }
  }

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    if (to < from) return [];
    const docs = await this.docs.find({ room, seq: { $gte: from, $lte: to } }, { projection: { _id: 0, at: 0 } }).sort({ seq: 1 }).toArray();
    return docs.map((d) => toMessage(d, this.usersShown));
  }

  async messages(room: string, query: MessageQuery): Promise<ChatMessage[]> {
    const seq = query.after !== undefined ? { $gt: query.after } : query.before !== undefined ? { $lt: query.before } : { $gte: 1 };
    const filter = { room, seq, op: { $exists: false }, ...(query.parent !== undefined ? { parent: query.parent } : {}), ...(query.sinceTs !== undefined ? { ts: { $gte: query.sinceTs } } : {}) };
    const docs = await this.docs
      .find(filter, { projection: { _id: 0, at: 0 } })
      .sort({ seq: query.after !== undefined ? 1 : -1 })
      .limit(query.limit)
      .toArray();
    if (query.after === undefined) docs.reverse();
    return docs.map((d) => toMessage(d, this.usersShown));
  }

  /** The summary states of the messages `seqs` that changes or replies were folded into. */
  async summaryStates(room: string, seqs: readonly number[]): Promise<Map<number, SummaryState>> {
    if (seqs.length === 0) return new Map();
    const docs = await this.docs.find({ room, seq: { $in: [...seqs] }, op: { $exists: false }, chg: { $exists: true } }, { projection: { _id: 0, at: 0 } }).toArray();
    return new Map(docs.map((d) => [d.seq, toSummaryState(d)]));
  }

  async summaryState(room: string, seq: number): Promise<SummaryState | 'change' | undefined> {
    const doc = await this.docs.findOne({ room, seq }, { projection: { _id: 0, at: 0 } });
    if (!doc) return undefined;
    return doc.op !== undefined ? 'change' : toSummaryState(doc);
  }

  /**
   * Stores read pointers as insert-only entries, one per (room, user, seq): the pointer is the
   * highest. An update ($max) would be simpler, but FerretDB runs concurrent updates of one
   * document without isolation and a lower pointer can win; inserts cannot lower anything. A
   * repeat is a duplicate key, which means it is stored.
   */
  async putReads(pointers: readonly ReadPointer[]): Promise<void> {
    const highest = new Map<string, ReadPointer>();
    for (const p of pointers) {
      const key = `${p.room}\u0000${p.user}`;
      if ((highest.get(key)?.seq ?? -1) < p.seq) highest.set(key, { room: p.room, user: p.user, seq: p.seq });
    }
    if (highest.size === 0) return;
    try {
      await this.reads.insertMany([...highest.values()], { ordered: false });
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError()) throw err;
      const errors = ([] as WriteError[]).concat(err.writeErrors);
      if (errors.length === 0 || !errors.every((we) => we.code === DUPLICATE_KEY)) throw err;
    }
  }

  /** Every user with a stored read pointer in the room. */
  async readers(room: string): Promise<string[]> {
    return (await this.reads.distinct('user', { room })).filter((u): u is string => typeof u === 'string');
  }

  async lastRead(room: string, user: string): Promise<number> {
    return (await this.reads.find({ room, user }, { projection: { _id: 0, seq: 1 } }).sort({ seq: -1 }).limit(1).next())?.seq ?? 0;
  }

  /** The room's newest stored message's epoch and the highest seq stored in that epoch. */
  async lastPosition(room: string, opts: { sinceTs?: number } = {}): Promise<DurableTail | undefined> {
    const newest = await this.docs.find({ room }, { projection: { _id: 0, epoch: 1, seq: 1, ts: 1 } }).sort({ ts: -1, seq: -1 }).limit(1).next();
    if (!newest) return undefined;
    const sameEpoch = newest.epoch === undefined ? { room } : { room, epoch: newest.epoch };
    const top = await this.docs.find(sameEpoch, { projection: { _id: 0, seq: 1 } }).sort({ seq: -1 }).limit(1).next();
    // The messages within the tail window: their cids stay duplicates when Redis lost the room
    // after the queue stream trimmed them (it keeps stored messages only while it has room).
    const tailMs = this.opts.tailMs ?? 0;
    const fromTs = Math.min(tailMs > 0 ? newest.ts - tailMs : Infinity, opts.sinceTs ?? Infinity);
    const docs = Number.isFinite(fromTs)
      ? await this.docs.find({ ...sameEpoch, ts: { $gte: fromTs } }, { projection: { _id: 0, at: 0, epoch: 0 } }).sort({ seq: -1 }).limit(TAIL_LIMIT).toArray()
      : [];
    return { epoch: newest.epoch, seq: Math.max(newest.seq, top?.seq ?? 0), messages: docs.map(toEvent).reverse() };
  }

  /** True for failures of reaching the database (down, unreachable, stepping down): retry later. */
  isTransient(err: unknown): boolean {
    return isTransientMongoError(err);
  }

  /** One unordered bulkWrite; `refused` maps messages to their own non-duplicate errors (insert mode). */
  private async write(batch: ChatMessage[]): Promise<{ clean: boolean; refused: Map<ChatMessage, Error>; error?: Error }> {
    const ops: AnyBulkWriteOperation<MessageDoc>[] =
      this.mode === 'insert'
        ? batch.map((m) => ({ insertOne: { document: toDoc(m) } }))
        : batch.map((m) => ({ updateOne: { filter: { room: m.room, seq: m.seq }, update: { $setOnInsert: toDoc(m) }, upsert: true } }));
    try {
      const r = await this.docs.bulkWrite(ops, { ordered: false });
      return { clean: this.mode === 'insert' || r.upsertedCount === batch.length, refused: new Map() };
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError()) throw err;
      const refused = new Map<ChatMessage, Error>();
      const writeErrors = ([] as WriteError[]).concat(err.writeErrors);
      // A batch refused whole (FerretDB aborts on one bad document) makes no progress, so
      // putChecked falls back to one write per message and isolates the refused one.
      if (writeErrors.length === 0) {
        if (this.isTransient(err)) throw err;
        return { clean: false, refused: new Map(), error: err };
      }
      // FerretDB reports upsert errors at the wrong index: only inserts are attributed.
      const attributable = this.mode === 'insert' ? writeErrors : [];
      for (const we of attributable) {
        const m = batch[we.index];
        if (m && we.code !== DUPLICATE_KEY) refused.set(m, new Error(`${m.room}:${m.seq} refused: ${we.errmsg ?? `code ${we.code}`}`));
      }
      return { clean: false, refused, error: err };
    }
  }

  /** Reads back what `batch` left behind: records conflicts, returns messages found nowhere. */
  private async settle(batch: ChatMessage[], result: PutResult): Promise<ChatMessage[]> {
    const seqsByRoom = new Map<string, number[]>();
    for (const m of batch) {
      const seqs = seqsByRoom.get(m.room);
      if (seqs) seqs.push(m.seq);
      else seqsByRoom.set(m.room, [m.seq]);
    }
    const filters: Filter<MessageDoc>[] = [...seqsByRoom].map(([room, seqs]) => ({ room, seq: { $in: seqs } }));
    const docs = await this.docs.find({ $or: filters }, { projection: { _id: 0, room: 1, seq: 1, from: 1, cid: 1 } }).toArray();
    const slots = new Map(docs.map((d) => [`${d.room}\u0000${d.seq}`, { seq: d.seq, from: d.from, cid: d.cid }]));
    const unwritten: ChatMessage[] = [];
    for (const m of batch) {
      const s = slots.get(`${m.room}\u0000${m.seq}`);
      if (!s) unwritten.push(m);
      else if (s.from !== m.from || s.cid !== m.cid) result.conflicts.push({ message: m, reason: 'seq-taken', existing: s });
    }
    return unwritten;
  }
}
