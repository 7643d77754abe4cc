import { describe, expect, it } from 'vitest';
import { minRecoveryMaxBytes } from '../../src/config/index.js';
import { History, type HistoryLimits } from '../../src/rooms/history.js';
import type { ChatMessage } from '../../src/domain/messages.js';

/**
 * src/rooms/history.ts: `join` recovery and `history` pages within RECOVERY_MAX and
 * RECOVERY_MAX_BYTES (docs/protocol.md, "Recovery" and the `history` rules), over a room whose recent
 * buffer and store are plain arrays, so lost and partial history can be set up exactly.
 */

const ROOM = 'r';
const EPOCH = 'e1';
const CAP = 262144;
/** The longest rid a client may send, as the gateway would echo it. */
const WORST_RID = '\u0000'.repeat(64);

const msg = (seq: number, bodyBytes = 10): ChatMessage => ({ room: ROOM, seq, cid: `c${seq}`, from: 'u', body: 'x'.repeat(bodyBytes), ts: 1_700_000_000_000 + seq });

/** A room of `head` messages: `recent` holds the seqs from `recentFrom`, `stored` those the store keeps. */
function room(head: number, opts: { bodyBytes?: number; recentFrom?: number; stored?: (seq: number) => boolean } = {}) {
  const all = Array.from({ length: head }, (_, i) => msg(i + 1, opts.bodyBytes));
  const recentFrom = opts.recentFrom ?? 1;
  const stored = opts.stored ?? (() => true);
  const pick = (keep: (m: ChatMessage) => boolean) => (_room: string, from: number, to: number) =>
    Promise.resolve(all.filter((m) => m.seq >= from && m.seq <= to && keep(m)));
  const reads = { count: 0 };
  const state = {
    head: () => Promise.resolve({ epoch: EPOCH, head, seq: head }),
    range: (r: string, from: number, to: number) => {
      reads.count++;
      return pick((m) => m.seq >= recentFrom)(r, from, to);
    },
    summaries: () => Promise.resolve(new Map()),
  };
  const older = (m: ChatMessage) => m.seq < recentFrom && stored(m.seq);
  const store = {
    range: pick(older),
    messages: (_room: string, q: { before?: number; after?: number; limit: number }) => {
      const kept = all.filter(older);
      return Promise.resolve(q.after !== undefined ? kept.filter((m) => m.seq > q.after!).slice(0, q.limit) : kept.filter((m) => m.seq < (q.before ?? Infinity)).slice(-q.limit));
    },
  };
  const limits: HistoryLimits = { recoveryMax: 1000, recoveryMaxBytes: CAP, usersShown: 10 };
  return { history: (over: Partial<HistoryLimits> = {}) => new History(state, store, { ...limits, ...over }), head: { epoch: EPOCH, head, seq: head }, reads };
}

/** The join reply frame as a /ws client receives it. */
function joinFrame(data: { messages: ChatMessage[]; recovered: boolean; more: boolean }, head: number): number {
  const reply = { room: ROOM, epoch: EPOCH, head, lastRead: head, unread: 0, occupancy: 1, ...data };
  return Buffer.byteLength(JSON.stringify({ t: 'reply', rid: WORST_RID, ok: true, data: reply }), 'utf8');
}

const seqs = (messages: ChatMessage[]): number[] => messages.map((m) => m.seq);
const from = (first: number, n: number): number[] => Array.from({ length: n }, (_, i) => first + i);

describe('join recovery', () => {
  it('600 messages of 3000 bytes from since 0: the oldest run that fits 262144 bytes, more, not recovered', async () => {
    const r = room(600, { bodyBytes: 3000 });
    const got = await r.history().recover(ROOM, r.head, 0, EPOCH);
    expect(got).toMatchObject({ recovered: false, more: true });
    expect(seqs(got.messages)).toEqual(from(1, got.messages.length));
    expect(joinFrame(got, 600)).toBeLessThanOrEqual(CAP);
    // Tight: one more message would not have fit.
    expect(joinFrame({ ...got, messages: [...got.messages, msg(got.messages.length + 1, 3000)] }, 600)).toBeGreaterThan(CAP - 1024);
  });

  it('reads a large recovery in a few round trips, not one per message', async () => {
    const r = room(600, { bodyBytes: 3000 });
    await r.history().recover(ROOM, r.head, 0, EPOCH);
    expect(r.reads.count).toBeLessThanOrEqual(4);
  });

  it('RECOVERY_MAX keeps the oldest: more until the gap is recovered whole', async () => {
    const r = room(5);
    expect(await r.history({ recoveryMax: 3 }).recover(ROOM, r.head, 0, EPOCH)).toEqual({ messages: [msg(1), msg(2), msg(3)], changes: [], recovered: false, more: true });
    expect(await r.history({ recoveryMax: 3 }).recover(ROOM, r.head, 2, EPOCH)).toEqual({ messages: [msg(3), msg(4), msg(5)], changes: [], recovered: true, more: false });
  });

  it('no more without since, at the head, above the head, or in another epoch', async () => {
    const r = room(5);
    const h = r.history();
    expect(await h.recover(ROOM, r.head, undefined, undefined)).toEqual({ messages: [], changes: [], recovered: false, more: false });
    expect(await h.recover(ROOM, r.head, 5, EPOCH)).toEqual({ messages: [], changes: [], recovered: true, more: false });
    expect(await h.recover(ROOM, r.head, 6, EPOCH)).toEqual({ messages: [], changes: [], recovered: false, more: false });
    expect(await h.recover(ROOM, r.head, 0, 'other')).toEqual({ messages: [], changes: [], recovered: false, more: false });
  });

  it('history lost below the recent buffer: starts where it resumes, not recovered', async () => {
    const r = room(5000, { recentFrom: 4001, stored: () => false });
    const got = await r.history().recover(ROOM, r.head, 0, EPOCH);
    expect(seqs(got.messages)).toEqual(from(4001, 1000));
    expect(got).toMatchObject({ recovered: false, more: false });
    // A store that keeps a bounded tail: the run starts at its oldest.
    const tail = room(5000, { recentFrom: 4001, stored: (s) => s > 2500 });
    expect(seqs((await tail.history().recover(ROOM, tail.head, 10, EPOCH)).messages).slice(0, 2)).toEqual([2501, 2502]);
  });

  it('a hole ends the run: more, and the next page starts above the hole', async () => {
    const r = room(20, { recentFrom: 15, stored: (s) => s !== 10 });
    const got = await r.history().recover(ROOM, r.head, 0, EPOCH);
    expect(got).toEqual({ messages: from(1, 9).map((s) => msg(s)), changes: [], recovered: false, more: true });
    expect(seqs((await r.history().page(ROOM, { after: 9 }, 100)).messages)).toEqual(from(11, 10));
  });

  it('one message at the largest legal size, its summary at its longest, fits a reply of the smallest RECOVERY_MAX_BYTES', async () => {
    const maxBody = 4096;
    const reactions = { maxReactionBytes: 32, kindsPerMessage: 20, usersShown: 10 };
    const cap = minRecoveryMaxBytes(maxBody, reactions);
    // Every field at its longest: control characters escape to six bytes each.
    const user = (i: number) => `${'\u0001'.repeat(125)}${String(i).padStart(3, '0')}`;
    const reactionsOf = Object.fromEntries(
      Array.from({ length: reactions.kindsPerMessage }, (_, k) => [`${'\u0001'.repeat(30)}${String(k).padStart(2, '0')}`, { count: Number.MAX_SAFE_INTEGER, users: Array.from({ length: reactions.usersShown }, (_, i) => user(i)) }]),
    );
    const worst: ChatMessage = {
      room: 'R'.repeat(128),
      seq: Number.MAX_SAFE_INTEGER,
      cid: 'c'.repeat(64),
      from: '\u0001'.repeat(128),
      body: '\u0001'.repeat(maxBody),
      meta: { k: 'm'.repeat(1024 - 8) },
      ts: Number.MAX_SAFE_INTEGER,
      parent: Number.MAX_SAFE_INTEGER,
      version: Number.MAX_SAFE_INTEGER,
      deleted: true,
      reactions: reactionsOf,
      replies: { count: Number.MAX_SAFE_INTEGER, last: { seq: Number.MAX_SAFE_INTEGER, from: user(999), ts: Number.MAX_SAFE_INTEGER } },
      changed: Number.MAX_SAFE_INTEGER,
    };
    const head = { epoch: 'E'.repeat(64), head: worst.seq, seq: worst.seq };
    const state = { head: () => Promise.resolve(head), range: () => Promise.resolve([worst, worst]), summaries: () => Promise.resolve(new Map()) };
    const h = new History(state, { range: () => Promise.resolve([]), messages: () => Promise.resolve([]) }, { recoveryMax: 1000, recoveryMaxBytes: cap, usersShown: 10 });
    const got = await h.recover(worst.room, head, worst.seq - 2, undefined);
    expect(got.messages).toHaveLength(1);
    const reply = { room: worst.room, epoch: 'E'.repeat(64), head: worst.seq, lastRead: worst.seq, unread: worst.seq, occupancy: worst.seq, ...got };
    expect(Buffer.byteLength(JSON.stringify({ t: 'reply', rid: WORST_RID, ok: true, data: reply }))).toBeLessThanOrEqual(cap);
  });
});

describe('history pages', () => {
  it('after: the oldest above it, more while newer ones exist up to the head', async () => {
    const h = room(250).history();
    const first = await h.page(ROOM, { after: 0 }, 100);
    expect(first).toMatchObject({ room: ROOM, more: true });
    expect(seqs(first.messages)).toEqual(from(1, 100));
    expect(seqs((await h.page(ROOM, { after: 200 }, 100)).messages)).toEqual(from(201, 50));
    expect((await h.page(ROOM, { after: 200 }, 100)).more).toBe(false);
    expect(await h.page(ROOM, { after: 250 }, 100)).toEqual({ room: ROOM, messages: [], changes: [], more: false });
    expect(await h.page(ROOM, { after: 999 }, 100)).toEqual({ room: ROOM, messages: [], changes: [], more: false });
  });

  it('100 messages at the body limit: both directions stay within RECOVERY_MAX_BYTES', async () => {
    const h = room(300, { bodyBytes: 4096 }).history();
    for (const anchor of [{ after: 0 }, { before: 301 }, {}]) {
      const page = await h.page(ROOM, anchor, 100);
      expect(page.more).toBe(true);
      expect(page.messages.length).toBeLessThan(100);
      expect(Buffer.byteLength(JSON.stringify({ t: 'reply', rid: WORST_RID, ok: true, data: page }))).toBeLessThanOrEqual(CAP);
      const s = seqs(page.messages);
      expect(s).toEqual(from(s[0]!, s.length));
      // before keeps the newest below it, after the oldest above it.
      if ('after' in anchor) expect(s[0]).toBe(1);
      else expect(s.at(-1)).toBe(300);
    }
  });
});
