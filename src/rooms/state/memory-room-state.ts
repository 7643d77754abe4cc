import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '../types.js';
import { MemoryModeration } from './memory-moderation.js';
import type { SendChecks } from './moderation.js';
import type { AppendInput, AppendResult, CheckedAppendResult, CommitStatus, ProbeResult, RoomHead, RoomRead, RoomState } from './room-state.js';

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

  private dupOf(rec: RoomRecord, input: Pick<AppendInput, 'from' | 'cid'>): AppendResult | undefined {
    const seen = rec.dedupe.get(`${input.from}\u0000${input.cid}`);
    return seen && seen.expiresAt > this.now() ? { message: seen.message, dup: true, epoch: rec.epoch } : undefined;
  }

  private sequence(rec: RoomRecord, input: AppendInput, dedupeTtlS: number): AppendResult {
    const key = `${input.from}\u0000${input.cid}`;
    const now = this.now();
    const message: ChatMessage = {
      room: input.room,
      seq: rec.head + 1,
      cid: input.cid,
      from: input.from,
      body: input.body,
      ...(input.meta !== undefined ? { meta: input.meta } : {}),
      ts: input.ts,
    };
    rec.head = message.seq;
    rec.recent.push(message);
    if (rec.recent.length > this.recentMax) rec.recent.shift();
    rec.dedupe.set(key, { message, expiresAt: now + dedupeTtlS * 1000 });
    rec.pending.set(message.seq, message);
    return { message, dup: false, epoch: rec.epoch };
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
      rec = { epoch: randomBytes(6).toString('base64url'), head: 0, recent: [], dedupe: new Map(), reads: new Map(), pending: new Map() };
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
