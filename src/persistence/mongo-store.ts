import { MongoBulkWriteError, MongoClient, type Collection, type WriteError } from 'mongodb';
import type { ChatMessage, ReadPointer } from '../domain/messages.js';
import type { DurableTail } from '../domain/durable-position.js';
import type { SummaryState } from '../domain/summary.js';
import type { MessageQuery, MessageStore } from './message-store.js';
import { toEvent, toMessage, toSummaryState, type MessageDoc } from './mongo-docs.js';
import { databaseOf, DUPLICATE_KEY, isTransientMongoError } from './mongo-errors.js';
import type { ErasableStore, MessageRef } from './erasable-store.js';
import { authoredDocs, authoredRooms, blankDocs } from './mongo-erasure.js';
import { foldChanges } from './mongo-folds.js';
import { ensureIndexes } from './mongo-indexes.js';
import { ensureTtlIndex, sweepExpired, type RetentionIndex } from './mongo-retention.js';
import { insertMessages, StoreWriteError, type PutResult, type WriteMode } from './mongo-writes.js';

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
  write?: WriteMode;
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

/** Most messages `lastPosition` returns for the dedupe window. */
const TAIL_LIMIT = 10_000;

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
  private readonly mode: WriteMode;
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
      await ensureIndexes(this.docs, this.reads);
      if (this.opts.retentionMs !== undefined) this.index = await ensureTtlIndex(this.docs, this.opts.retentionMs);
    } catch (err) {
      // The client may hold sockets by now: close() (which callers owe a started component) frees them.
      throw new Error(`opening the message store ${this.docs.dbName}.messages failed: ${(err as Error).message}`, { cause: err });
    }
    this.started = true;
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
    await insertMessages(this.docs, this.mode, messages, result);
    const failed = new Set([...result.conflicts, ...result.rejected].map((r) => r.message));
    const folding = messages.filter((m) => (m.op !== undefined || m.parent !== undefined) && !failed.has(m));
    if (folding.length > 0) result.unfolded = await foldChanges(this.docs, folding);
    return result;
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
}
