import type { Collection, Filter, UpdateFilter } from 'mongodb';
import type { ChatMessage } from '../domain/messages.js';
import { subjectOf } from '../domain/summary.js';
import { fieldName, type MessageDoc } from './mongo-docs.js';

/**
 * Folds stored changes and replies into the message documents they are about (docs/protocol.md,
 * "Persistence"), one guarded update each: an update only applies what is newer than what the
 * document holds (by seq), so a redelivered change applies nothing twice and changes may come in
 * any order. They are applied one at a time, in seq order: FerretDB, unlike MongoDB, does not
 * isolate concurrent updates of one document. Returns the events whose message is not stored
 * yet: they must be tried again later (the message is on its way through the queue).
 */
export async function foldChanges(messages: Collection<MessageDoc>, events: readonly ChatMessage[]): Promise<ChatMessage[]> {
  const missing: ChatMessage[] = [];
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    const subject = subjectOf(e);
    if (subject === undefined) continue;
    const target: Filter<MessageDoc> = { room: e.room, seq: subject, op: { $exists: false } };
    const applied = await foldOne(messages, e, target);
    if (applied) continue;
    // Not applied: superseded, already applied, or the message is not stored yet.
    const doc = await messages.findOne(target, { projection: { _id: 0, del: 1 } });
    if (!doc) {
      missing.push(e);
      continue;
    }
    const after: UpdateFilter<MessageDoc> = e.op === 'edit' || e.op === 'delete' ? { $max: { chg: e.seq, v: e.version ?? 1 } } : { $max: { chg: e.seq } };
    await messages.updateOne(target, after);
    // An edit of a message deleted meanwhile keeps no body either.
    if (e.op === 'edit' && doc.del !== undefined) await messages.updateOne({ room: e.room, seq: e.seq }, { $set: { body: '' }, $unset: { meta: '' } });
  }
  return missing;
}

/** The guarded update of one event; true when it changed the message's document. */
async function foldOne(messages: Collection<MessageDoc>, e: ChatMessage, target: Filter<MessageDoc>): Promise<boolean> {
  const newer = (field: string): Filter<MessageDoc> => ({ $or: [{ [field]: { $exists: false } }, { [field]: { $lt: e.seq } }] });
  switch (e.op) {
    case undefined: {
      const added = await messages.updateOne(target, { $addToSet: { reps: e.seq }, $max: { chg: e.seq } });
      if (added.matchedCount === 0) return false;
      await messages.updateOne({ ...target, ...newer('rl.s') }, { $set: { rl: { s: e.seq, f: e.from, t: e.ts } } });
      return true;
    }
    case 'edit': {
      const set = { es: e.seq, body: e.body, ...(e.meta !== undefined ? { meta: JSON.stringify(e.meta) } : {}) };
      const update: UpdateFilter<MessageDoc> = { $set: set, $max: { chg: e.seq, v: e.version ?? 1 }, ...(e.meta === undefined ? { $unset: { meta: '' } } : {}) };
      return (await messages.updateOne({ ...target, del: { $exists: false }, ...newer('es') }, update)).modifiedCount > 0;
    }
    case 'delete': {
      const first: Filter<MessageDoc> = { $or: [{ del: { $exists: false } }, { del: { $gt: e.seq } }] };
      const done = await messages.updateOne({ ...target, ...first }, { $set: { del: e.seq, dts: e.ts, body: '' }, $unset: { meta: '', es: '' }, $max: { chg: e.seq, v: e.version ?? 1 } });
      if (done.matchedCount === 0) return false;
      await messages.updateMany({ room: e.room, target: e.target ?? 0, op: 'edit' }, { $set: { body: '' }, $unset: { meta: '' } });
      return true;
    }
    case 'react':
    case 'unreact': {
      const path = `rx.${fieldName(e.reaction ?? '')}.${fieldName(e.from)}`;
      const guard: Filter<MessageDoc> = { $or: [{ [`${path}.s`]: { $exists: false } }, { [`${path}.s`]: { $lt: e.seq, $gt: -e.seq } }] };
      const entry = { s: e.op === 'react' ? e.seq : -e.seq, t: e.ts };
      return (await messages.updateOne({ ...target, ...guard }, { $set: { [path]: entry }, $max: { chg: e.seq } })).matchedCount > 0;
    }
  }
}
