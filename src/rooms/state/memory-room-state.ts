import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '../../domain/messages.js';
import { applyEvent, cloneSummaryState, newSummaryState, stripBody, summarize, type MessageSummary, type SummaryState } from '../../domain/summary.js';
import { decide, sequenceChange } from '../changes/change-rules.js';
import { changeEvent } from './change-events.js';
import { MemoryModeration } from './memory-moderation.js';
import type { SendChecks } from './moderation.js';
import type { AppendInput, AppendResult, ChangeInput, ChangeOptions, ChangeResult, ChangeRules, CheckedAppendResult, CommitStatus, ProbeResult, RoomHead, RoomRead, RoomState } from './room-state.js';

interface DedupeEntry {
  message: ChatMessage;
  expiresAt: number;
}

interface RoomRecord {
  epoch: string;
  head: number;
  /** The recent buffer: consecutive seqs, oldest first, at most `recentMax`. */
  recent: ChatMessage[];
  dedupe: Map<string, DedupeEntry>;
  reads: Map<string, number>;
  /** Sequenced messages not yet committed, by seq. */
  pending: Map<number, ChatMessage>;
  /** Summary states of changed messages: of those in `recent`, and of older ones seeded from the store. */
  summaries: Map<number, SummaryState>;
}

const SWEEP_MS = 30_000;

/** RoomState of embedded mode: everything in this process; a restart starts every room at a new epoch. */
export class MemoryRoomState implements RoomState {
  private readonly rooms = new Map<string, RoomRecord>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly recentMax: number,
    private readonly now: () => number = Date.now,
    /** The rooms' restrictions that `appendChecked` enforces (the node's Moderation). */
    readonly moderation = new MemoryModeration(),
  ) {}

  start(): Promise<void> {
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    return Promise.resolve();
  }

  append(input: AppendInput, dedupeTtlS: number): Promise<AppendResult> {
    const rec = this.record(input.room);
    return Promise.resolve(this.dupOf(rec, input) ?? this.sequence(rec, input, dedupeTtlS));
  }

  appendChecked(input: AppendInput, dedupeTtlS: number, checks: SendChecks): Promise<CheckedAppendResult> {
    const rec = this.record(input.room);
    const dup = this.dupOf(rec, input);
    if (dup) return Promise.resolve(dup);
    const refused = this.moderation.check(input.room, input.from, input.ts, checks);
    if (refused) return Promise.resolve({ refused });
    this.moderation.sent(input.room, input.from, input.ts, checks);
    return Promise.resolve(this.sequence(rec, input, dedupeTtlS));
  }

  probe(input: Pick<AppendInput, 'room' | 'from' | 'cid' | 'ts'>, checks: SendChecks): Promise<ProbeResult> {
    if (this.dupOf(this.record(input.room), input)) return Promise.resolve({ kind: 'dup' });
    const refusal = this.moderation.check(input.room, input.from, input.ts, checks);
    return Promise.resolve(refusal ? { kind: 'refused', refusal } : { kind: 'new' });
  }

  change(input: ChangeInput, rules: ChangeRules, opts: ChangeOptions = {}): Promise<ChangeResult> {
    const rec = this.record(input.room);
    const dup = this.dupOf(rec, input);
    if (dup) return Promise.resolve({ kind: 'appended', ...dup });
    // The room's restrictions (docs/protocol.md, "Message changes"): slow mode for a reply only, a mute for all but a delete.
    const checks = opts.checks && { slowExempt: opts.checks.slowExempt || input.op !== 'reply' };
    if (checks) {
      const refusal = this.moderation.check(input.room, input.from, input.ts, checks);
      if (refusal && !(refusal.code === 'muted' && input.op === 'delete')) return Promise.resolve({ kind: 'restricted', refusal });
    }
    if (input.target < 1 || input.target > rec.head) return Promise.resolve({ kind: 'refused', code: 'not_found', reason: `no message ${input.target} in this room` });
    let state = rec.summaries.get(input.target);
    if (!state) {
      const first = rec.recent[0]?.seq ?? Infinity;
      const target = rec.recent[input.target - first];
      if (target?.op !== undefined) return Promise.resolve({ kind: 'refused', code: 'not_found', reason: `${input.target} is a change, not a message` });
      if (target) state = newSummaryState(target.from);
      else if (opts.seed) state = cloneSummaryState(opts.seed.state);
      else return Promise.resolve({ kind: 'unknown' });
      rec.summaries.set(input.target, state);
    }
    const decision = decide(state, { op: input.op, user: input.from, ...(input.admin ? { admin: true } : {}), ...(input.reaction !== undefined ? { reaction: input.reaction } : {}) }, rules.kindsPerMessage);
    if (decision.kind === 'refused') return Promise.resolve(decision);
    if (decision.kind === 'held') return Promise.resolve({ ...decision, epoch: rec.epoch });
    if (opts.probe) return Promise.resolve({ kind: 'probed' });
    if (checks) this.moderation.sent(input.room, input.from, input.ts, checks);
    let event = changeEvent(input, rec.head + 1);
    if (input.op === 'reply') applyEvent(state, event);
    else event = sequenceChange(state, event, rules.usersShown);
    if (input.op === 'delete') this.stripDeleted(rec, input.target);
    this.sequenced(rec, event, rules.dedupeTtlS);
    return Promise.resolve({ kind: 'appended', message: event, dup: false, epoch: rec.epoch });
  }

  /** An erasure (rooms/erasure.ts): the user's messages and edits held for resends, without body and meta; how many changed. */
  eraseDedupe(user: string, room: string | undefined): Promise<number> {
    let changed = 0;
    for (const [name, rec] of this.rooms) {
      if (room !== undefined && name !== room) continue;
      for (const [key, entry] of rec.dedupe) {
        const m = entry.message;
        if (m.from !== user || (m.op !== undefined && m.op !== 'edit') || (m.body === '' && m.meta === undefined)) continue;
        rec.dedupe.set(key, { ...entry, message: stripBody(m) });
        changed++;
      }
    }
    return Promise.resolve(changed);
  }

  summaries(room: string, seqs: readonly number[], usersShown: number): Promise<Map<number, MessageSummary>> {
    const rec = this.rooms.get(room);
    const out = new Map<number, MessageSummary>();
    for (const seq of seqs) {
      const state = rec?.summaries.get(seq);
      if (state) out.set(seq, summarize(state, usersShown));
    }
    return Promise.resolve(out);
  }

  private dupOf(rec: RoomRecord, input: Pick<AppendInput, 'from' | 'cid'>): AppendResult | undefined {
    const seen = rec.dedupe.get(`${input.from}\u0000${input.cid}`);
    return seen && seen.expiresAt > this.now() ? { message: seen.message, dup: true, epoch: rec.epoch } : undefined;
  }

  private sequence(rec: RoomRecord, input: AppendInput, dedupeTtlS: number): AppendResult {
    const message: ChatMessage = {
      room: input.room,
      seq: rec.head + 1,
      cid: input.cid,
      from: input.from,
      body: input.body,
      ...(input.meta !== undefined ? { meta: input.meta } : {}),
      ts: input.ts,
    };
    this.sequenced(rec, message, dedupeTtlS);
    return { message, dup: false, epoch: rec.epoch };
  }

  /** Takes `message`'s seq: the recent buffer, the dedupe entry, pending until committed. */
  private sequenced(rec: RoomRecord, message: ChatMessage, dedupeTtlS: number): void {
    rec.head = message.seq;
    rec.recent.push(message);
    if (rec.recent.length > this.recentMax) {
      const gone = rec.recent.shift();
      // Older messages take their summary from the store again (a seed) when they change.
      if (gone) rec.summaries.delete(gone.seq);
      if (rec.summaries.size > 2 * this.recentMax) for (const seq of rec.summaries.keys()) if (seq < (rec.recent[0]?.seq ?? 0)) rec.summaries.delete(seq);
    }
    rec.dedupe.set(`${message.from}\u0000${message.cid}`, { message, expiresAt: this.now() + dedupeTtlS * 1000 });
    rec.pending.set(message.seq, message);
  }

  /** A delete: the target's body and meta, and its edits' bodies, leave the recent buffer. */
  private stripDeleted(rec: RoomRecord, target: number): void {
    rec.recent.forEach((m, i) => {
      if (m.seq !== target && !(m.op === 'edit' && m.target === target)) return;
      const stripped = stripBody(m);
      rec.recent[i] = stripped;
      if (rec.pending.has(m.seq)) rec.pending.set(m.seq, stripped);
    });
  }

  commit(room: string, epoch: string, messages: readonly ChatMessage[]): Promise<CommitStatus[]> {
    const rec = this.rooms.get(room);
    if (rec?.epoch !== epoch) return Promise.resolve(messages.map(() => 'gone'));
    const same = (a: ChatMessage | undefined, b: ChatMessage): boolean => a !== undefined && a.from === b.from && a.cid === b.cid;
    const first = rec.recent[0]?.seq ?? Infinity;
    return Promise.resolve(
      messages.map((m): CommitStatus => {
        if (same(rec.pending.get(m.seq), m)) {
          rec.pending.delete(m.seq);
          return 'committed';
        }
        return same(rec.recent[m.seq - first], m) || m.seq < first ? 'earlier' : 'gone';
      }),
    );
  }

  /** Embedded mode has no durable copy to verify against. */
  invalidate(): Promise<void> {
    return Promise.resolve();
  }

  head(room: string): Promise<RoomHead> {
    const rec = this.record(room);
    let head = rec.head;
    for (const seq of rec.pending.keys()) head = Math.min(head, seq - 1);
    return Promise.resolve({ epoch: rec.epoch, head, seq: rec.head });
  }

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    return (await this.read(room, from, to)).durable;
  }

  read(room: string, from: number, to: number): Promise<RoomRead> {
    const rec = this.rooms.get(room);
    const first = rec?.recent[0];
    if (!rec || to < from) return Promise.resolve({ durable: [], pending: [] });
    const start = first ? Math.max(0, from - first.seq) : 0;
    const end = first ? Math.min(rec.recent.length, to - first.seq + 1) : 0;
    const inRange = end > start ? rec.recent.slice(start, end) : [];
    const pending = [...rec.pending.values()].filter((m) => m.seq >= from && m.seq <= to).sort((a, b) => a.seq - b.seq);
    return Promise.resolve({ durable: inRange.filter((m) => !rec.pending.has(m.seq)), pending });
  }

  setRead(room: string, user: string, seq: number): Promise<{ seq: number; moved: boolean }> {
    const rec = this.record(room);
    const current = rec.reads.get(user) ?? 0;
    const stored = Math.max(current, Math.min(seq, rec.head));
    rec.reads.set(user, stored);
    return Promise.resolve({ seq: stored, moved: stored > current });
  }

  getRead(room: string, user: string): Promise<number> {
    return Promise.resolve(this.rooms.get(room)?.reads.get(user) ?? 0);
  }

  private record(room: string): RoomRecord {
    let rec = this.rooms.get(room);
    if (!rec) {
      rec = { epoch: randomBytes(6).toString('base64url'), head: 0, recent: [], dedupe: new Map(), reads: new Map(), pending: new Map(), summaries: new Map() };
      this.rooms.set(room, rec);
    }
    return rec;
  }

  private sweep(): void {
    const now = this.now();
    this.moderation.sweep(now);
    for (const rec of this.rooms.values()) {
      for (const [key, entry] of rec.dedupe) if (entry.expiresAt <= now) rec.dedupe.delete(key);
    }
  }
}
