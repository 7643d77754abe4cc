import { describe, expect, it } from 'vitest';
import { checkHistory, type AnomalyKind, type CheckInput, type Operation, type SeenMessage, type StoredMessage } from '../faults/history.js';

// The fault suite's history checker on small synthetic histories: a clean run that exercises
// every path a client may legitimately take, then one broken variant per anomaly kind. The
// checker must find exactly what was broken (and what follows from it), nothing else.

const EPOCH = 'e1';
const FAR = 4_000_000_000;
const m = (seq: number, cid: string, from = 'u1'): SeenMessage => ({ seq, cid, from, body: `body of ${cid}`, ts: 1_000 + seq });

/** Builds a history in order with a ticking clock. */
class History {
  readonly ops: Operation[] = [];
  t = 10_000;
  private readonly users = new Map<string, string>();

  private tick(): number {
    return (this.t += 10);
  }

  open(client: string, user: string, conn = 1, exp = FAR): this {
    this.users.set(client, user);
    this.ops.push({ op: 'open', client, user, conn, at: this.tick(), node: 'n1', exp });
    return this;
  }

  close(client: string, conn = 1, code = 1006): this {
    this.ops.push({ op: 'close', client, conn, at: this.tick(), code });
    return this;
  }

  join(client: string, room: string, reply: Partial<{ epoch: string; head: number; messages: SeenMessage[]; recovered: boolean; more: boolean }>, opts: { since?: number; conn?: number } = {}): this {
    const at = this.tick();
    const data = { epoch: EPOCH, head: 0, messages: [], recovered: true, more: false, ...reply };
    const { since, conn = 1 } = opts;
    this.ops.push({ op: 'join', client, conn, at, end: this.tick(), room, ...(since !== undefined ? { since, epoch: EPOCH } : {}), outcome: { ok: true, data } });
    return this;
  }

  send(client: string, room: string, cid: string, reply: { seq: number; dup?: boolean; ts?: number } | string, conn = 1): this {
    const from = this.users.get(client) ?? '?';
    const at = this.tick();
    const outcome = typeof reply === 'string' ? ({ ok: false, code: reply } as const) : ({ ok: true, data: { seq: reply.seq, ts: reply.ts ?? 1_000 + reply.seq, dup: reply.dup ?? false } } as const);
    this.ops.push({ op: 'send', client, conn, at, end: this.tick(), room, from, cid, body: `body of ${cid}`, outcome });
    return this;
  }

  msg(client: string, room: string, message: SeenMessage, conn = 1): this {
    this.ops.push({ op: 'msg', client, conn, at: this.tick(), room, message });
    return this;
  }

  history(client: string, room: string, after: number, messages: SeenMessage[], more: boolean, conn = 1): this {
    const at = this.tick();
    this.ops.push({ op: 'history', client, conn, at, end: this.tick(), room, after, outcome: { ok: true, data: { messages, more } } });
    return this;
  }

  auth(client: string, exp: number, conn = 1): this {
    const at = this.tick();
    this.ops.push({ op: 'auth', client, conn, at, end: this.tick(), outcome: { ok: true, data: { exp } } });
    return this;
  }

  abandon(client: string, room: string, cid: string): this {
    this.ops.push({ op: 'abandon', client, at: this.tick(), room, from: this.users.get(client) ?? '?', cid, body: `body of ${cid}` });
    return this;
  }
}

/** Two members of room r; four messages, one of them finished by the servers after its sender gave up. */
function cleanRun(): History {
  const h = new History().open('a', 'u1').open('b', 'u2');
  h.join('a', 'r', {}, { since: 0 }).join('b', 'r', {}, { since: 0 });
  h.send('a', 'r', 'c1', { seq: 1 }).msg('a', 'r', m(1, 'c1')).msg('b', 'r', m(1, 'c1'));
  // b's send c2 times out, but was sequenced: delivered to both, acked on the resend as a dup.
  h.send('b', 'r', 'c2', 'timeout').msg('a', 'r', m(2, 'c2', 'u2')).msg('b', 'r', m(2, 'c2', 'u2'));
  h.send('b', 'r', 'c2', { seq: 2, dup: true });
  // a drops; pushes of the new connection come before its join reply and overlap it.
  h.close('a').open('a', 'u1', 2).msg('a', 'r', m(3, 'c3', 'u2'), 2);
  h.send('b', 'r', 'c3', { seq: 3 }).msg('b', 'r', m(3, 'c3', 'u2'));
  h.join('a', 'r', { head: 3, messages: [m(2, 'c2', 'u2'), m(3, 'c3', 'u2')] }, { since: 1, conn: 2 });
  // b's c4 failed and b gave up; the servers finished it: stored and delivered late.
  h.send('b', 'r', 'c4', 'overloaded').abandon('b', 'r', 'c4');
  // b drops and rejoins with more: true; a push waits until the history fetch is done.
  h.close('b').open('b', 'u2', 2);
  h.join('b', 'r', { head: 4, messages: [], recovered: false, more: true }, { since: 3, conn: 2 });
  h.msg('b', 'r', m(4, 'c4', 'u2'), 2).history('b', 'r', 3, [m(4, 'c4', 'u2')], false, 2);
  h.msg('a', 'r', m(4, 'c4', 'u2'), 2);
  // a resends an acknowledged cid: the first seq and ts, dup.
  h.send('a', 'r', 'c1', { seq: 1, dup: true }, 2);
  h.auth('a', FAR, 2);
  return h;
}

function input(h: History, over: Partial<CheckInput> = {}): CheckInput {
  const store: StoredMessage[] = [m(1, 'c1'), m(2, 'c2', 'u2'), m(3, 'c3', 'u2'), m(4, 'c4', 'u2')].map((x) => ({ ...x, epoch: EPOCH }));
  const presence = { r: { u1: 1, u2: 1 } };
  return { operations: h.ops, store: { r: store }, presence, expectedPresence: presence, ...over };
}

function kinds(i: CheckInput): AnomalyKind[] {
  return [...new Set(checkHistory(i).anomalies.map((a) => a.kind))].sort();
}

describe('history checker', () => {
  it('finds nothing in a clean run that takes every legitimate path', () => {
    const result = checkHistory(input(cleanRun()));
    expect(result.anomalies).toEqual([]);
    expect(result).toMatchObject({ ok: true, stats: { acked: 3, stored: 4, members: 2 } });
  });

  it('lost-ack: an acknowledged message is not in MongoDB', () => {
    const h = cleanRun().send('a', 'r', 'c5', { seq: 5 }).msg('a', 'r', m(5, 'c5'), 2).msg('b', 'r', m(5, 'c5'), 2);
    expect(kinds(input(h))).toEqual(['lost-ack']);
  });

  it('duplicate-delivery: one seq pushed twice on a connection, or one message under two seqs', () => {
    expect(kinds(input(cleanRun().msg('a', 'r', m(4, 'c4', 'u2'), 2)))).toEqual(['duplicate-delivery']);
    const twice = cleanRun().msg('a', 'r', { ...m(5, 'c1'), ts: 1_001 }, 2);
    const store = input(twice).store['r']?.concat({ ...m(5, 'c1'), ts: 1_001, epoch: EPOCH }) ?? [];
    expect(kinds(input(twice, { store: { r: store } }))).toEqual(['duplicate-delivery', 'duplicate-in-store', 'missing-delivery']);
  });

  it('out-of-order: a lower seq pushed after a higher one', () => {
    const h = new History().open('a', 'u1').join('a', 'r', {}, { since: 0 });
    h.send('a', 'r', 'c1', { seq: 1 }).send('a', 'r', 'c2', { seq: 2 });
    h.msg('a', 'r', m(2, 'c2')).msg('a', 'r', m(1, 'c1'));
    const store = [m(1, 'c1'), m(2, 'c2')];
    expect(kinds({ operations: h.ops, store: { r: store }, presence: {}, expectedPresence: {} })).toEqual(['out-of-order']);
  });

  it('seq-conflict: one seq names two messages', () => {
    const h = cleanRun();
    h.ops.push({ op: 'history', client: 'b', conn: 2, at: h.t + 1, end: h.t + 2, room: 'r', after: 0, outcome: { ok: true, data: { messages: [m(2, 'c1')], more: false } } });
    expect(kinds(input(h))).toEqual(['seq-conflict']);
  });

  it('phantom-delivery: a member got a message that was neither acknowledged nor stored', () => {
    const h = cleanRun().send('a', 'r', 'c5', 'overloaded', 2).abandon('a', 'r', 'c5').msg('b', 'r', m(5, 'c5'), 2);
    expect(kinds(input(h))).toEqual(['phantom-delivery']);
  });

  it('missing-delivery: a member never held an acknowledged message, even after a failed fetch', () => {
    const h = cleanRun().send('a', 'r', 'c5', { seq: 5 }, 2).msg('a', 'r', m(5, 'c5'), 2);
    const store = input(h).store['r']?.concat({ ...m(5, 'c5'), epoch: EPOCH }) ?? [];
    expect(kinds(input(h, { store: { r: store } }))).toEqual(['missing-delivery']);
    const failedFetch = new History().open('a', 'u1').join('a', 'r', { head: 1, messages: [], recovered: false, more: true }, { since: 0 });
    failedFetch.ops.push({ op: 'history', client: 'a', conn: 1, at: 1, end: 2, room: 'r', after: 0, outcome: { ok: false, code: 'bad_request' } });
    expect(kinds({ operations: failedFetch.ops, store: { r: [m(1, 'c1')] }, presence: {}, expectedPresence: {} })).toEqual(['missing-delivery']);
  });

  it('duplicate-in-store and store-gap: MongoDB holds a message twice, or lacks a seq', () => {
    const i = input(cleanRun());
    const store = i.store['r'] ?? [];
    expect(kinds({ ...i, store: { r: [...store, { ...m(1, 'c1'), seq: 1 }] } })).toEqual(['duplicate-in-store']);
    const holed = store.filter((x) => x.seq !== 2);
    expect(kinds({ ...i, store: { r: holed } })).toEqual(['lost-ack', 'store-gap']);
  });

  it('state-reset: a new epoch, or a head below what a member held', () => {
    const newEpoch = cleanRun().close('a', 2).open('a', 'u1', 3).join('a', 'r', { epoch: 'e2', head: 0, recovered: false }, { since: 4, conn: 3 });
    expect(kinds(input(newEpoch))).toEqual(['missing-delivery', 'state-reset']);
    const behind = cleanRun().close('a', 2).open('a', 'u1', 3).join('a', 'r', { head: 2, recovered: false }, { since: 4, conn: 3 });
    expect(kinds(input(behind))).toEqual(['missing-delivery', 'state-reset']);
  });

  it('ack-mismatch: a resend answered with another seq or ts', () => {
    expect(kinds(input(cleanRun().send('b', 'r', 'c3', { seq: 3, dup: true, ts: 99 }, 2)))).toEqual(['ack-mismatch']);
    expect(kinds(input(cleanRun().send('b', 'r', 'c3', { seq: 7 }, 2)))).toEqual(['ack-mismatch']);
  });

  it('never-acked: a send nobody acknowledged and the client did not give up on', () => {
    expect(kinds(input(cleanRun().send('a', 'r', 'c9', 'timeout', 2)))).toEqual(['never-acked']);
  });

  it('presence-divergence: presence differs from the open connections', () => {
    expect(kinds(input(cleanRun(), { presence: { r: { u1: 1, u2: 1, u3: 1 } } }))).toEqual(['presence-divergence']);
    expect(kinds(input(cleanRun(), { presence: { r: { u1: 2 } } }))).toEqual(['presence-divergence']);
  });

  it('late-delivery: a live member got an acknowledged message past the deadline (only when one is given)', () => {
    const h = cleanRun();
    h.send('a', 'r', 'c5', { seq: 5 }, 2).msg('a', 'r', m(5, 'c5'), 2);
    h.t += 5_000;
    h.msg('b', 'r', m(5, 'c5'), 2);
    const store = input(h).store['r']?.concat({ ...m(5, 'c5'), epoch: EPOCH }) ?? [];
    expect(kinds(input(h, { store: { r: store } }))).toEqual([]);
    expect(kinds(input(h, { store: { r: store }, deliveryDeadlineMs: 3_000 }))).toEqual(['late-delivery']);
    // Not owed in time to a member that was not live when the ack came.
    const away = cleanRun().close('b', 2).send('a', 'r', 'c5', { seq: 5 }, 2).msg('a', 'r', m(5, 'c5'), 2);
    away.t += 5_000;
    away.open('b', 'u2', 3).join('b', 'r', { head: 5, messages: [m(5, 'c5')] }, { since: 4, conn: 3 });
    expect(kinds(input(away, { store: { r: store }, deliveryDeadlineMs: 3_000 }))).toEqual([]);
  });

  it('token-expiry: 4001 before exp, or served after exp', () => {
    const early = new History().open('a', 'u1', 1, 20).close('a', 1, 4001);
    expect(kinds({ operations: early.ops, store: {}, presence: {}, expectedPresence: {} })).toEqual(['token-expiry']);
    // One late frame may be a paused gateway catching up; frames 2 s apart are a gateway not closing.
    const late = new History().open('a', 'u1', 1, 1).join('a', 'r', {}, { since: 0 });
    expect(kinds({ operations: late.ops, store: {}, presence: {}, expectedPresence: {} })).toEqual([]);
    late.t += 2_000;
    late.join('a', 'r2', {}, { since: 0 });
    expect(kinds({ operations: late.ops, store: {}, presence: {}, expectedPresence: {} })).toEqual(['token-expiry']);
    const renewed = new History().open('a', 'u1', 1, 1);
    renewed.t = 900;
    renewed.auth('a', 20).join('a', 'r', {}, { since: 0 });
    expect(kinds({ operations: renewed.ops, store: {}, presence: {}, expectedPresence: {} })).toEqual([]);
  });
});
