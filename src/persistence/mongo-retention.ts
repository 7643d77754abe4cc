import { MongoServerError, type Collection } from 'mongodb';
import type { MessageDoc } from './mongo-docs.js';

/** The TTL index on `at`: MongoDB drops a document `expireAfterSeconds` after its `at`. */
const TTL_INDEX = 'at_ttl';
/** MongoDB refuses to change an index's options through createIndex: an older TTL is replaced. */
const INDEX_OPTIONS_CONFLICT = 85;
/** A plain index on `at` for the sweep, where there is no TTL index. */
const SWEEP_INDEX = 'at';
const NAMESPACE_NOT_FOUND = 26;

/** `ttl`: the server deletes expired documents itself; `unsupported`: only the sweep does; `none`: retention is off. */
export type RetentionIndex = 'ttl' | 'unsupported' | 'none';

/**
 * How the `messages` collection forgets messages older than RETENTION_DAYS (docs/operations.md,
 * "Retention"). Two ways, because FerretDB v1 (the tests' server) does not implement TTL indexes:
 * - a TTL index on `at` where the server has them (MongoDB: its TTL monitor deletes about once a
 *   minute, in the background);
 * - `sweep`, a bounded delete of documents whose `at` is before the cutoff, which the persist
 *   worker runs on a timer whatever the server: it is what enforces retention on FerretDB, and a
 *   cheap no-op where the TTL monitor got there first.
 * Readers filter by the cutoff too (domain/retention.ts), so an expired message is never read back
 * between the cutoff and the delete.
 */
export async function ensureTtlIndex(docs: Collection<MessageDoc>, retentionMs: number): Promise<RetentionIndex> {
  const existing = (await indexes(docs)).find((i) => i.name === TTL_INDEX);
  if (retentionMs <= 0) {
    if (existing) await docs.dropIndex(TTL_INDEX);
    return 'none';
  }
  const seconds = Math.ceil(retentionMs / 1000);
  if (existing && existing.expireAfterSeconds !== seconds) await docs.dropIndex(TTL_INDEX);
  try {
    await docs.createIndex({ at: 1 }, { name: TTL_INDEX, expireAfterSeconds: seconds });
    return 'ttl';
  } catch (err) {
    if (err instanceof MongoServerError && err.code === INDEX_OPTIONS_CONFLICT) throw err;
    if (err instanceof MongoServerError && /not implemented|not supported/i.test(err.message)) {
      await docs.createIndex({ at: 1 }, { name: SWEEP_INDEX });
      return 'unsupported';
    }
    throw err;
  }
}

/**
 * Deletes at most `limit` documents (messages and changes) whose `at` is before `cutoff`, oldest
 * first; returns how many. Bounded so that one sweep never holds the server long: a caller
 * repeats while a sweep deletes `limit`.
 */
export async function sweepExpired(docs: Collection<MessageDoc>, cutoff: number, limit: number): Promise<number> {
  const before = { at: { $lt: new Date(cutoff) } };
  const ids = await docs.find(before, { projection: { _id: 1 } }).sort({ at: 1 }).limit(limit).toArray();
  if (ids.length === 0) return 0;
  const r = await docs.deleteMany({ _id: { $in: ids.map((d) => d._id) }, ...before });
  return r.deletedCount;
}

/** The collection's indexes (none before it exists). */
async function indexes(docs: Collection<MessageDoc>): Promise<{ name?: string; expireAfterSeconds?: number }[]> {
  try {
    return await docs.indexes();
  } catch (err) {
    if (err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND) return [];
    throw err;
  }
}
