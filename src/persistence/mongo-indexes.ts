import { MongoError, type Collection } from 'mongodb';
import type { ReadPointer } from '../domain/messages.js';
import type { MessageDoc } from './mongo-docs.js';

const INDEX_NOT_FOUND = 27;
/** The unique (room, from, cid) index of earlier versions: it refused a cid reused after the dedupe window. */
const OLD_CID_INDEX = 'room_from_cid';

/**
 * The store's indexes, created at start-up by every process that opens it (idempotent): unique
 * on (room, seq) of `messages` and on (room, user, seq) of `reads`, plus those that threads,
 * change folds and erasures query by.
 */
export async function ensureIndexes(docs: Collection<MessageDoc>, reads: Collection<ReadPointer>): Promise<void> {
  // One index per command: FerretDB 1.24 panics on a multi-index createIndexes whose indexes all exist.
  await docs.createIndex({ room: 1, seq: 1 }, { name: 'room_seq', unique: true });
  await dropOldCidIndex(docs);
  await docs.createIndex({ room: 1, parent: 1, seq: 1 }, { name: 'room_parent_seq' });
  await docs.createIndex({ room: 1, target: 1 }, { name: 'room_target' });
  await reads.createIndex({ room: 1, user: 1, seq: 1 }, { name: 'room_user_seq', unique: true });
  // An erasure finds a user's messages (mongo-erasure.ts).
  await docs.createIndex({ from: 1, room: 1, seq: 1 }, { name: 'from_room_seq' });
}

/**
 * Drops the unique (room, from, cid) index a deployment of an earlier version has. Idempotent
 * and safe when several processes start at once: the index is looked up by name (FerretDB
 * 1.24 accepts a createIndex whose options differ from the existing index without an error,
 * so "create it non-unique" would not replace it), and a concurrent drop's IndexNotFound (27,
 * which FerretDB answers too) means it is gone.
 */
async function dropOldCidIndex(docs: Collection<MessageDoc>): Promise<void> {
  const indexes = await docs.indexes();
  if (!indexes.some((i) => i.name === OLD_CID_INDEX && i.unique === true)) return;
  try {
    await docs.dropIndex(OLD_CID_INDEX);
  } catch (err) {
    if (!(err instanceof MongoError && err.code === INDEX_NOT_FOUND)) throw err;
  }
}
