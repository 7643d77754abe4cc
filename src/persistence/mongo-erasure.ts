import type { Collection } from 'mongodb';
import type { MessageRef } from './erasable-store.js';
import type { MessageDoc } from './mongo-docs.js';

/** ErasableStore.authored on the `messages` collection (its (room, seq) index orders the result). */
export async function authoredDocs(docs: Collection<MessageDoc>, user: string, opts: { room?: string | undefined; limit: number }): Promise<MessageRef[]> {
  const filter = { from: user, op: { $exists: false }, del: { $exists: false }, body: { $ne: '' }, ...(opts.room !== undefined ? { room: opts.room } : {}) };
  const found = await docs.find(filter, { projection: { _id: 0, room: 1, seq: 1 } }).sort({ room: 1, seq: 1 }).limit(opts.limit).toArray();
  return found.map((d) => ({ room: d.room, seq: d.seq }));
}

/**
 * ErasableStore.blank: the messages' bodies and meta, and their edits' (an edit holds the body it
 * set), are removed now; the tombstones' folds mark the messages deleted when they arrive.
 */
export async function blankDocs(docs: Collection<MessageDoc>, room: string, seqs: readonly number[]): Promise<number> {
  if (seqs.length === 0) return 0;
  const blank = { $set: { body: '' }, $unset: { meta: '', es: '' } } as const;
  const messages = await docs.updateMany({ room, seq: { $in: [...seqs] }, op: { $exists: false }, $or: [{ body: { $ne: '' } }, { meta: { $exists: true } }] }, blank);
  const edits = await docs.updateMany({ room, target: { $in: [...seqs] }, op: 'edit', $or: [{ body: { $ne: '' } }, { meta: { $exists: true } }] }, { $set: { body: '' }, $unset: { meta: '' } });
  return messages.modifiedCount + edits.modifiedCount;
}

/** ErasableStore.authoredRooms. */
export async function authoredRooms(docs: Collection<MessageDoc>, user: string): Promise<string[]> {
  return (await docs.distinct('room', { from: user })).filter((r): r is string => typeof r === 'string');
}
