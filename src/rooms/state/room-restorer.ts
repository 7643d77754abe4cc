import type { ChatMessage } from '../../domain/messages.js';
import type { DurablePosition } from '../../domain/durable-position.js';
import type { SummaryState } from '../../domain/summary.js';
import { eventJson } from './change-events.js';
import { SEED_LUA } from './lua/changes.js';
import { seedArgs } from './redis-summaries.js';
import { restoredSummaries, withoutDeletedBodies } from './restored-summaries.js';
import { DROP_STALE_LUA, PENDING_LUA, RESTORE_BEGIN_LUA, RESTORE_MESSAGES_LUA, RESTORE_OPEN_LUA } from './lua/room-state.js';
import { asArray, asNumber, asString, defineScript, defineVariadicScript, type RedisScripting, type ScriptCall, type VariadicScriptCall } from './redis-scripts.js';

interface RoomKeys {
  meta: string;
  recent: string;
  reads: string;
  pend: string;
  sum: string;
  rx: (seq: number) => string;
  dedupe: (from: string, cid: string) => string;
}

export interface RestorerOptions {
  recentMax: number;
  /** REACTION_USERS_SHOWN: of the summaries taken back. */
  usersShown: number;
  dedupeTtlMs: number;
  keys: (room: string) => RoomKeys;
  newEpoch: () => string;
}

/** Messages per RESTORE_MESSAGES call: bounds the script's argument list. */
const CHUNK = 200;
/**
 * Restores run at once on this node. After a Redis restart every room needs one (each reads the
 * queue stream and MongoDB): the rest wait their turn instead of flooding both.
 */
const MAX_RESTORING = 8;

/**
 * Brings a room that Redis lost, or holds an older copy of, up to its durable copy: epoch,
 * counter (never below the highest durable seq), the recent buffer and the dedupe entries of
 * acknowledged `cid`s. Three steps (begin, messages in chunks, open); the room stays closed to
 * every counter-using script until `open` marks it verified under the server's run id, and each
 * step is idempotent, so nodes restoring the same room at once cannot hurt each other. A
 * durable copy that cannot be read fails the restore (and the request): guessing could reuse a seq.
 */
export class RoomRestorer {
  private readonly begin: ScriptCall;
  private readonly putMessages: VariadicScriptCall;
  private readonly open: ScriptCall;
  private readonly pendingOf: ScriptCall;
  private readonly dropStale: VariadicScriptCall;
  private readonly seed: VariadicScriptCall;
  /** One restore at a time per room on this node. */
  private readonly restoring = new Map<string, Promise<void>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    client: RedisScripting,
    private readonly durable: DurablePosition,
    private readonly opts: RestorerOptions,
  ) {
    this.begin = defineScript(client, 'parleyRoomRestoreBegin', 4, RESTORE_BEGIN_LUA);
    this.putMessages = defineVariadicScript(client, 'parleyRoomRestoreMessages', RESTORE_MESSAGES_LUA);
    this.open = defineScript(client, 'parleyRoomRestoreOpen', 2, RESTORE_OPEN_LUA);
    this.pendingOf = defineScript(client, 'parleyRoomPending', 1, PENDING_LUA);
    this.dropStale = defineVariadicScript(client, 'parleyRoomDropStale', DROP_STALE_LUA);
    this.seed = defineVariadicScript(client, 'parleyRoomSeed', SEED_LUA);
  }

  restore(room: string): Promise<void> {
    let pending = this.restoring.get(room);
    if (!pending) {
      pending = this.limited(() => this.run(room)).finally(() => this.restoring.delete(room));
      this.restoring.set(room, pending);
    }
    return pending;
  }

  private async limited(fn: () => Promise<void>): Promise<void> {
    if (this.running >= MAX_RESTORING) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async run(room: string): Promise<void> {
    const k = this.opts.keys(room);
    // What the copy Redis holds still calls pending: the tail must reach back to it.
    const held = asArray(await this.pendingOf(k.pend), 'restore').map((raw) => {
      const json = asString(raw, 'restore');
      return { json, message: JSON.parse(json) as ChatMessage };
    });
    const sinceTs = held.length > 0 ? Math.min(...held.map((h) => h.message.ts)) : undefined;
    const tail = await this.durable.lastPosition(room, sinceTs === undefined ? undefined : { sinceTs });
    const started = asArray(await this.begin(k.meta, k.recent, k.reads, k.pend, tail?.epoch ?? '', this.opts.newEpoch()), 'restore');
    if (asNumber(started[0], 'restore') === 0) return;
    const run = asString(started[1], 'restore');
    const epoch = asString(started[2], 'restore');
    // The copy may hold bodies a delete removed since (the queue keeps messages as sent): not back into the buffer.
    const messages = withoutDeletedBodies((tail?.messages ?? []).filter((m) => m.room === room).sort((a, b) => a.seq - b.seq)).slice(-Math.max(this.opts.recentMax, 1));
    // Dedupe entries need every message within the TTL, the buffer only the newest recentMax.
    const forDedupe = (tail?.messages ?? []).filter((m) => m.room === room && !messages.includes(m));
    // Pending messages the durable copy contradicts go first, with their dedupe entries: at or
    // below the durable head and not in the copy, they were never made durable (and the feeds
    // have moved past them, see DROP_STALE_LUA); under a seq the copy holds for another
    // message, the seq was handed out twice and the durable one wins.
    const durable = new Map((tail?.messages ?? []).map((m) => [m.seq, m]));
    const stale = held.filter(({ message: p }) => {
      const d = durable.get(p.seq);
      return d ? d.from !== p.from || d.cid !== p.cid : p.seq <= (tail?.seq ?? 0);
    });
    if (stale.length > 0) {
      const keys = stale.map((h) => k.dedupe(h.message.from, h.message.cid));
      await this.dropStale([k.meta, k.recent, k.pend, ...keys], [epoch, ...stale.flatMap((h) => [h.message.seq, h.json])]);
    }
    const now = Date.now();
    for (const batch of chunks([...forDedupe, ...messages], CHUNK)) {
      const args: (string | number)[] = [epoch, this.opts.dedupeTtlMs, now];
      const dedupeKeys: string[] = [];
      for (const m of batch) {
        args.push(m.seq, eventJson(m), m.ts);
        dedupeKeys.push(k.dedupe(m.from, m.cid));
      }
      await this.putMessages([k.meta, k.recent, k.pend, ...dedupeKeys], args);
    }
    const lowest = messages[0]?.seq ?? 0;
    const opened = asNumber(await this.open(k.meta, k.recent, run, epoch, tail?.seq ?? 0, lowest, this.opts.recentMax), 'restore');
    if (opened !== 1) throw new Error(`restoring room ${room} was interrupted (Redis restarted or the epoch moved)`);
    await this.restoreSummaries(room, epoch, messages, k);
  }

  /**
   * The summaries of the restored buffer's messages: the durable copy's fold, with the restored
   * events about them folded on top (the store may lag behind the queue). A message with neither
   * keeps none; one that changes later takes its seed then (CHANGE_LUA's rbase).
   */
  private async restoreSummaries(room: string, epoch: string, events: readonly ChatMessage[], k: RoomKeys): Promise<void> {
    const messages = events.filter((e) => e.op === undefined);
    const stored = (await this.durable.summaryStates?.(room, messages.map((m) => m.seq))) ?? new Map<number, SummaryState>();
    for (const { state, editSeqs, seq } of restoredSummaries(messages, events, stored)) {
      await this.seed([k.meta, k.sum, k.rx(seq)], [epoch, seq, ...seedArgs({ state, editSeqs }, this.opts.usersShown)]);
    }
  }
}


function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
