// The operation log of a fault-injection run and the Jepsen-style checker that judges it
// afterwards against docs/protocol.md. Everything here is plain JSON (a failing run's history can be
// written out and checked again), and `checkHistory` is a pure function of the log, the final
// MongoDB contents, and the final presence: it reports, never throws on what it finds.
import { checkDeliveries } from './delivery-check.js';
import { checkExpiry, checkPresence } from './session-check.js';

/** A message as the wire shows it: a `msg` push, or an entry of a join reply or history page. */
export interface SeenMessage {
  seq: number;
  cid: string;
  from: string;
  body: string;
  ts: number;
}

/** A document of MongoDB's `messages` collection at the end of the run. */
export interface StoredMessage extends SeenMessage {
  epoch?: string;
}

/** A reply: its data, an error code, or `timeout` / `closed` when no reply came. */
export type Outcome<T> = { ok: true; data: T } | { ok: false; code: string };

export interface JoinData {
  epoch: string;
  head: number;
  messages: SeenMessage[];
  recovered: boolean;
  more: boolean;
}

/**
 * One recorded operation. `client` names one connection-owning client (one user each), `conn`
 * numbers its connections; `at` is when a request was sent or a push arrived, `end` when the
 * request's outcome was known (epoch ms of the recording process). Records are appended in the
 * order things happened to each client: a request's record when its outcome arrives.
 */
export type Operation =
  /** The `hello` of a new connection; `exp` is its token's (seconds). */
  | { op: 'open'; client: string; user: string; conn: number; at: number; node: string; exp: number }
  | { op: 'close'; client: string; conn: number; at: number; code: number }
  | { op: 'join'; client: string; conn: number; at: number; end: number; room: string; since?: number; epoch?: string; outcome: Outcome<JoinData> }
  | { op: 'history'; client: string; conn: number; at: number; end: number; room: string; after: number; outcome: Outcome<{ messages: SeenMessage[]; more: boolean }> }
  | { op: 'send'; client: string; conn: number; at: number; end: number; room: string; from: string; cid: string; body: string; outcome: Outcome<{ seq: number; ts: number; dup: boolean }> }
  | { op: 'msg'; client: string; conn: number; at: number; room: string; message: SeenMessage }
  | { op: 'auth'; client: string; conn: number; at: number; end: number; outcome: Outcome<{ exp: number }> }
  /** The client stops resending a send that was never acknowledged (a sender that gave up or died). */
  | { op: 'abandon'; client: string; at: number; room: string; from: string; cid: string; body: string }
  /** The client closes for good: from here on it is not a member that stayed joined. */
  | { op: 'quit'; client: string; at: number };

export const ANOMALY_KINDS = [
  /** An acknowledged message is not in MongoDB, or is there under another seq. */
  'lost-ack',
  /** A member got one message twice: the same seq twice in one connection's `msg` pushes, or one message under two seqs. */
  'duplicate-delivery',
  /** A member got a seq after a higher one, in one connection's pushes or in what it held. */
  'out-of-order',
  /** One seq of a room named two different messages (acks, pushes, replies, MongoDB). */
  'seq-conflict',
  /** A member got a message that was neither acknowledged nor in MongoDB at the end. */
  'phantom-delivery',
  /** A member that stayed joined never held a message of the room (acknowledged or stored). */
  'missing-delivery',
  /** A member live all along got an acknowledged message later than the deadline after its ack (checked when one is given). */
  'late-delivery',
  /** MongoDB holds one message twice (two seqs), or one seq twice. */
  'duplicate-in-store',
  /** MongoDB lacks a seq below the room's highest stored one: the sequence stalled at a hole. */
  'store-gap',
  /** The room's epoch changed, or its head went below a seq already held (persistence is configured). */
  'state-reset',
  /** Two acks of one message disagree (seq or ts), or an ack's ts is not its message's. */
  'ack-mismatch',
  /** A send was never acknowledged although the client kept resending it to the end. */
  'never-acked',
  /** Presence at the end differs from the connections open at the end. */
  'presence-divergence',
  /** A connection was closed with 4001 while its token was valid, or served past its token's exp. */
  'token-expiry',
] as const;

export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface Anomaly {
  kind: AnomalyKind;
  /** When the history shows it (epoch ms), where one operation does. */
  at?: number;
  room?: string;
  seq?: number;
  client?: string;
  detail: string;
}

export interface CheckInput {
  operations: readonly Operation[];
  /** MongoDB's messages at the end, per room. */
  store: Readonly<Record<string, readonly StoredMessage[]>>;
  /** Presence at the end, per room: user -> devices. */
  presence: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Connections open (and joined) at the end, per room: user -> count. */
  expectedPresence: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** How late past a token's exp a 4001 close may come (the gateway sweeps every 100 ms). Default 5 s. */
  expirySlackMs?: number;
  /** docs/protocol.md's "Quiet rooms" bound (2 s, plus slack for a loaded machine); unchecked when absent. */
  deliveryDeadlineMs?: number;
}

export interface CheckResult {
  ok: boolean;
  anomalies: Anomaly[];
  byKind: Partial<Record<AnomalyKind, number>>;
  stats: { operations: Partial<Record<Operation['op'], number>>; acked: number; stored: number; members: number };
}

/** The identity of a logical message: a resend repeats all of it; a reused cid changes the body. */
export function messageKey(m: { from: string; cid: string; body: string }): string {
  return `${m.from}\u0000${m.cid}\u0000${m.body}`;
}

/** `from/cid` of a key, for anomaly texts. */
export function describeKey(key: string): string {
  const [from, cid] = key.split('\u0000');
  return `${from}/${cid}`;
}

/** Everything seen under one (room, seq): the keys, and where each was seen first. */
export class SeqLedger {
  private readonly seen = new Map<string, Map<number, Map<string, string>>>();

  note(room: string, seq: number, key: string, source: string): void {
    let seqs = this.seen.get(room);
    if (!seqs) this.seen.set(room, (seqs = new Map()));
    let keys = seqs.get(seq);
    if (!keys) seqs.set(seq, (keys = new Map()));
    if (!keys.has(key)) keys.set(key, source);
  }

  conflicts(): Anomaly[] {
    const out: Anomaly[] = [];
    for (const [room, seqs] of this.seen) {
      for (const [seq, keys] of seqs) {
        if (keys.size < 2) continue;
        const names = [...keys].map(([k, source]) => `${describeKey(k)} (${source})`);
        out.push({ kind: 'seq-conflict', room, seq, detail: `seq ${seq} names ${keys.size} messages: ${names.join(', ')}` });
      }
    }
    return out;
  }
}

/** An acknowledged message: the first ack's seq and ts. */
export interface Ack {
  room: string;
  key: string;
  seq: number;
  ts: number;
  client: string;
  /** When the first ack arrived. */
  at: number;
}

/** Judges a run; see ANOMALY_KINDS for what it finds. */
export function checkHistory(input: CheckInput): CheckResult {
  const anomalies: Anomaly[] = [];
  const ledger = new SeqLedger();
  const storedKeys = checkStore(input.store, ledger, anomalies);
  const acks = checkAcks(input.operations, input.store, ledger, anomalies);
  const members = checkDeliveries(input.operations, { acks, store: input.store, storedKeys, ledger, anomalies, ...(input.deliveryDeadlineMs !== undefined ? { deliveryDeadlineMs: input.deliveryDeadlineMs } : {}) });
  anomalies.push(...ledger.conflicts());
  checkPresence(input, anomalies);
  checkExpiry(input.operations, input.expirySlackMs ?? 5_000, anomalies);

  const byKind: Partial<Record<AnomalyKind, number>> = {};
  for (const a of anomalies) byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
  const operations: Partial<Record<Operation['op'], number>> = {};
  for (const o of input.operations) operations[o.op] = (operations[o.op] ?? 0) + 1;
  const stored = Object.values(input.store).reduce((n, docs) => n + docs.length, 0);
  return { ok: anomalies.length === 0, anomalies, byKind, stats: { operations, acked: acks.size, stored, members } };
}

/** Duplicates and holes in MongoDB; returns, per room, the stored keys with their seqs. */
function checkStore(store: CheckInput['store'], ledger: SeqLedger, anomalies: Anomaly[]): Map<string, Map<string, number>> {
  const keysByRoom = new Map<string, Map<string, number>>();
  for (const [room, docs] of Object.entries(store)) {
    const keys = new Map<string, number>();
    const seqs = new Set<number>();
    let top = 0;
    for (const d of docs) {
      const key = messageKey(d);
      ledger.note(room, d.seq, key, 'MongoDB');
      if (seqs.has(d.seq)) anomalies.push({ kind: 'duplicate-in-store', room, seq: d.seq, detail: `seq ${d.seq} is stored twice` });
      const other = keys.get(key);
      if (other !== undefined) anomalies.push({ kind: 'duplicate-in-store', room, seq: d.seq, detail: `${describeKey(key)} is stored as seq ${other} and seq ${d.seq}` });
      else keys.set(key, d.seq);
      seqs.add(d.seq);
      top = Math.max(top, d.seq);
    }
    for (const [from, to] of missingRanges(seqs, 1, top)) {
      anomalies.push({ kind: 'store-gap', room, seq: from, detail: `seqs ${from}-${to} are missing below the highest stored seq ${top}` });
    }
    keysByRoom.set(room, keys);
  }
  return keysByRoom;
}

/** Acks that disagree, acknowledged messages MongoDB lost, sends never acknowledged. */
function checkAcks(ops: readonly Operation[], store: CheckInput['store'], ledger: SeqLedger, anomalies: Anomaly[]): Map<string, Ack> {
  const acks = new Map<string, Ack>();
  const pending = new Map<string, { client: string; room: string; cid: string; at: number }>();
  const ackKey = (room: string, key: string): string => `${room}\u0000${key}`;
  for (const o of ops) {
    if (o.op === 'abandon') pending.delete(ackKey(o.room, messageKey(o)));
    if (o.op === 'quit') for (const [id, p] of pending) if (p.client === o.client) pending.delete(id);
    if (o.op !== 'send') continue;
    const key = messageKey(o);
    const id = ackKey(o.room, key);
    if (!o.outcome.ok) {
      if (!acks.has(id)) pending.set(id, { client: o.client, room: o.room, cid: o.cid, at: o.end });
      continue;
    }
    pending.delete(id);
    const { seq, ts } = o.outcome.data;
    ledger.note(o.room, seq, key, `ack to ${o.client}`);
    const first = acks.get(id);
    if (!first) acks.set(id, { room: o.room, key, seq, ts, client: o.client, at: o.end });
    else if (first.seq !== seq || first.ts !== ts) {
      anomalies.push({ kind: 'ack-mismatch', at: o.end, room: o.room, seq, client: o.client, detail: `${describeKey(key)} acknowledged as seq ${first.seq} ts ${first.ts}, then as seq ${seq} ts ${ts}` });
    }
  }
  for (const p of pending.values()) {
    anomalies.push({ kind: 'never-acked', at: p.at, room: p.room, client: p.client, detail: `${p.client}'s send ${p.cid} was never acknowledged` });
  }
  for (const ack of acks.values()) {
    const docs = store[ack.room] ?? [];
    const doc = docs.find((d) => messageKey(d) === ack.key);
    if (!doc) anomalies.push({ kind: 'lost-ack', at: ack.at, room: ack.room, seq: ack.seq, detail: `${describeKey(ack.key)} (acknowledged as seq ${ack.seq}) is not in MongoDB` });
    else if (doc.seq !== ack.seq) anomalies.push({ kind: 'lost-ack', at: ack.at, room: ack.room, seq: ack.seq, detail: `${describeKey(ack.key)} acknowledged as seq ${ack.seq} is stored as seq ${doc.seq}` });
    else if (doc.ts !== ack.ts) anomalies.push({ kind: 'ack-mismatch', at: ack.at, room: ack.room, seq: ack.seq, detail: `${describeKey(ack.key)} acknowledged with ts ${ack.ts}, stored with ts ${doc.ts}` });
  }
  return acks;
}

/** The [from, to] runs of integers in first..last that `have` lacks. */
export function missingRanges(have: ReadonlySet<number>, first: number, last: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = first; s <= last; s++) {
    if (have.has(s)) continue;
    const start = s;
    while (s + 1 <= last && !have.has(s + 1)) s++;
    out.push([start, s]);
  }
  return out;
}
