import type { QueueErasureResult, QueuedEventHead } from '../bus/queue-erasure.js';
import type { ErasableStore, MessageRef } from '../persistence/erasable-store.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeReply, ChangeRequest } from './changes/room-changes.js';
import { dependency } from '../shared/errors.js';
import type { RoomState } from './state/room-state.js';

/** Most messages one erasure call tombstones: `more` tells the caller to call again. */
export const ERASE_MAX = 10_000;
/** Tombstones sequenced at once. */
const CONCURRENCY = 8;

export interface ErasureDeps {
  /** RoomService.change: a tombstone is the admin delete of docs/protocol.md, "Message changes". */
  change(request: ChangeRequest): Promise<ChangeReply>;
  state: Pick<RoomState, 'head' | 'read'>;
  store: ErasableStore;
  /** The queue stream, when it can delete events (JetStream). */
  queue?: { erase(room: string, match: (e: QueuedEventHead) => boolean): Promise<QueueErasureResult> } | undefined;
  /** The dedupe entries of the room state (they hold each message as sent for DEDUPE_TTL_S). */
  dedupe: { erase(user: string, room: string | undefined): Promise<number> };
  /** The rooms the user is online in (presence): where the store may not have their newest messages yet. */
  onlineRooms(user: string): Promise<string[]>;
  logger: Logger;
}

export interface ErasureReport {
  user: string;
  /** Messages found with a body (not tombstoned yet), in the store or the recent buffers. */
  found: number;
  /** Tombstones sequenced by this call. */
  erased: number;
  /** Messages whose tombstone (or delete) was already there: nothing new to do. */
  already: number;
  /** Stored events (messages and their edits) whose body and meta this call removed. */
  store: { blanked: number };
  /** Dedupe entries of the room state (messages kept for resends) whose body and meta this call removed. */
  dedupe: { blanked: number };
  /** Queued events deleted from the queue stream, and those left because they are not stored yet. */
  queue: { removed: number; kept: number };
  /** Rooms where this call found messages to tombstone or removed queued events, and how many messages it found in each. */
  rooms: Record<string, number>;
  /** More than ERASE_MAX messages were found: call again for the rest. */
  more: boolean;
}

/**
 * Erases a user's messages (docs/admin-api.md, "Erasing a user's messages"): each becomes a
 * tombstone through the admin delete — sequenced like any change, so the room's sequence stays
 * whole, the recent buffer and the stores strip the body and meta of the message and its edits,
 * and members get the `change` push — then the store blanks what it holds at once, and the queue
 * stream drops the stored events. Idempotent: a message already tombstoned is `already`.
 */
export async function eraseUserMessages(deps: ErasureDeps, user: string, room: string | undefined): Promise<ErasureReport> {
  const stored = await dependency('message store', () => deps.store.authored(user, { room, limit: ERASE_MAX + 1 }));
  const more = stored.length > ERASE_MAX;
  const byRoom = new Map<string, Set<number>>();
  const add = (r: MessageRef): void => {
    let seqs = byRoom.get(r.room);
    if (!seqs) byRoom.set(r.room, (seqs = new Set()));
    seqs.add(r.seq);
  };
  stored.slice(0, ERASE_MAX).forEach(add);
  // Where else to look: the recent buffers of the room asked for, or of every room the user
  // wrote in or is online in (messages the persist worker has not stored yet); and the queue
  // there, which also holds the copies of messages deleted before.
  const candidates = room !== undefined ? [room] : [...new Set([...byRoom.keys(), ...(await dependency('message store', () => deps.store.authoredRooms(user))), ...(await dependency('presence', () => deps.onlineRooms(user)))])];
  for (const r of candidates) for (const seq of await recentOf(deps.state, r, user)) add({ room: r, seq });

  const report: ErasureReport = { user, found: 0, erased: 0, already: 0, store: { blanked: 0 }, dedupe: { blanked: 0 }, queue: { removed: 0, kept: 0 }, rooms: {}, more };
  for (const r of [...new Set([...candidates, ...byRoom.keys()])].sort()) {
    const targets = [...(byRoom.get(r) ?? [])].sort((a, b) => a - b);
    report.found += targets.length;
    await inParallel(targets, CONCURRENCY, async (target) => {
      const reply = await deps.change({ room: r, from: 'system', cid: `delete-${target}`, op: 'delete', target, admin: true });
      if (reply.dup) report.already++;
      else report.erased++;
    });
    if (targets.length > 0) report.store.blanked += await dependency('message store', () => deps.store.blank(r, targets));
    let removed = 0;
    if (deps.queue) {
      const erase = deps.queue.erase.bind(deps.queue);
      // Every message and edit of the user's in the room: tombstoned now, or deleted before.
      const q = await dependency('durable queue', () => erase(r, (e) => e.from === user && (e.op === undefined || e.op === 'edit')));
      removed = q.removed;
      report.queue.removed += q.removed;
      report.queue.kept += q.kept;
    }
    if (targets.length > 0 || removed > 0) report.rooms[r] = targets.length;
  }
  report.dedupe.blanked = await dependency('room state', () => deps.dedupe.erase(user, room));
  deps.logger.info({ user, room, erased: report.erased, already: report.already, rooms: Object.keys(report.rooms).length }, 'erased a user\'s messages');
  return report;
}

/** The seqs of `user`'s messages with a body in the room's recent buffer (pending ones too). */
async function recentOf(state: ErasureDeps['state'], room: string, user: string): Promise<number[]> {
  const head = await dependency('room state', () => state.head(room));
  if (head.seq === 0) return [];
  const { durable, pending } = await dependency('room state', () => state.read(room, 1, head.seq));
  return [...durable, ...pending].filter((m) => m.from === user && m.op === undefined && m.deleted !== true && m.body !== '').map((m) => m.seq);
}

async function inParallel<T>(items: readonly T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}
