// The delivery half of the history checker: replays what each member (client, room) was given,
// the way docs/protocol.md tells a client to treat it, and reports what the protocol forbids.
//
// The client model (test/faults/recording-client.ts does exactly this): a member holds the
// messages it accepted and `max`, the highest seq it holds. A `msg` push, a join reply entry or
// a history entry with seq above `max` is accepted; one at or below it is dropped ("the server
// may deliver a message both ways"). A join reply with another epoch, or with `since` above
// `head`, makes the client drop what it held and start from the reply's head. Pushes for a room
// wait in a buffer while its join reply is awaited after a reconnect, and, after a reply with
// `more: true` (or `recovered: false` for a `since`), until `history` with `after` has fetched
// up to the head; a closed connection drops the buffer (the next join recovers from `max`).
import { describeKey, messageKey, type Ack, type Anomaly, type Operation, type SeenMessage, type SeqLedger, type StoredMessage } from './history.js';

export interface DeliveryContext {
  acks: ReadonlyMap<string, Ack>;
  store: Readonly<Record<string, readonly StoredMessage[]>>;
  storedKeys: ReadonlyMap<string, ReadonlyMap<string, number>>;
  ledger: SeqLedger;
  anomalies: Anomaly[];
  /** When set, a member live from an ack until this long after it must have had the message by then. */
  deliveryDeadlineMs?: number;
}

interface Member {
  client: string;
  room: string;
  epoch: string | undefined;
  /** Seqs at or below this are not owed to the member (it started, or started again, there). */
  baseline: number;
  max: number;
  held: Map<number, string>;
  heldKeys: Map<string, number>;
  /** Not joined yet, or its connection closed: pushes wait for the next join reply. */
  rejoining: boolean;
  fetching: boolean;
  buffer: { conn: number; at: number; message: SeenMessage }[];
  /** Live (joined, nothing fetching) since then; and the [from, to) periods it was live. */
  liveSince: number | undefined;
  periods: [number, number][];
  /** When each seq first reached the member. */
  receivedAt: Map<number, number>;
  /** Seqs already reported for this member, so one fault is one anomaly. */
  reported: Set<number>;
}

/** Replays every member's deliveries; returns how many members there were. */
export function checkDeliveries(ops: readonly Operation[], ctx: DeliveryContext): number {
  const members = new Map<string, Member>();
  const quit = new Set<string>();
  const lastPush = new Map<string, number>();
  const roomEpochs = new Map<string, string>();
  const phantoms = new Set<string>();
  const report = (a: Anomaly): void => void ctx.anomalies.push(a);

  const member = (client: string, room: string): Member => {
    const id = `${client}\u0000${room}`;
    let m = members.get(id);
    if (!m) {
      m = { client, room, epoch: undefined, baseline: 0, max: 0, held: new Map(), heldKeys: new Map(), rejoining: true, fetching: false, buffer: [], liveSince: undefined, periods: [], receivedAt: new Map(), reported: new Set() };
      members.set(id, m);
    }
    return m;
  };

  /** One message reaching a member: ordering, duplicates, phantoms; accepted as the client would. */
  const receive = (m: Member, message: SeenMessage, source: string, at: number): void => {
    const key = messageKey(message);
    if (!m.receivedAt.has(message.seq)) m.receivedAt.set(message.seq, at);
    ctx.ledger.note(m.room, message.seq, key, `${source} to ${m.client}`);
    const stored = ctx.storedKeys.get(m.room)?.has(key) ?? false;
    const phantomId = `${m.room}\u0000${key}`;
    if (!stored && !ctx.acks.has(phantomId) && !phantoms.has(phantomId)) {
      phantoms.add(phantomId);
      report({ kind: 'phantom-delivery', at: at, room: m.room, seq: message.seq, client: m.client, detail: `${describeKey(key)} (seq ${message.seq}) reached ${m.client} but was neither acknowledged nor stored` });
    }
    if (message.seq <= m.max) {
      if (m.held.has(message.seq) || message.seq <= m.baseline || m.reported.has(message.seq)) return;
      m.reported.add(message.seq);
      report({ kind: 'out-of-order', at: at, room: m.room, seq: message.seq, client: m.client, detail: `${m.client} got seq ${message.seq} (${source}) after seq ${m.max}` });
      return;
    }
    const twin = m.heldKeys.get(key);
    if (twin !== undefined && !m.reported.has(message.seq)) {
      m.reported.add(message.seq);
      report({ kind: 'duplicate-delivery', at: at, room: m.room, seq: message.seq, client: m.client, detail: `${m.client} got ${describeKey(key)} as seq ${twin} and again as seq ${message.seq}` });
    }
    m.held.set(message.seq, key);
    m.heldKeys.set(key, message.seq);
    m.max = message.seq;
  };

  const flush = (m: Member, at: number): void => {
    m.fetching = m.rejoining = false;
    m.liveSince ??= at;
    const buffered = m.buffer.splice(0);
    for (const b of buffered) receive(m, b.message, `msg on connection ${b.conn}`, b.at);
  };

  for (const o of ops) {
    switch (o.op) {
      case 'quit':
        quit.add(o.client);
        break;
      case 'close':
        for (const m of members.values()) {
          if (m.client !== o.client) continue;
          if (m.liveSince !== undefined) m.periods.push([m.liveSince, o.at]);
          m.liveSince = undefined;
          m.rejoining = true;
          m.fetching = false;
          m.buffer.length = 0;
        }
        break;
      case 'join': {
        if (!o.outcome.ok) break;
        const m = member(o.client, o.room);
        const data = o.outcome.data;
        const known = roomEpochs.get(o.room);
        if (known === undefined) roomEpochs.set(o.room, data.epoch);
        else if (known !== data.epoch) {
          roomEpochs.set(o.room, data.epoch);
          report({ kind: 'state-reset', at: o.end, room: o.room, client: o.client, detail: `the epoch changed from ${known} to ${data.epoch} (head ${data.head})` });
        }
        const lostHistory = o.since !== undefined && o.since > data.head && m.epoch === data.epoch;
        if (lostHistory) report({ kind: 'state-reset', at: o.end, room: o.room, client: o.client, detail: `a join with since ${o.since} was answered head ${data.head} in the same epoch` });
        if (m.epoch === undefined && o.since === undefined) m.baseline = data.head;
        if ((m.epoch !== undefined && m.epoch !== data.epoch) || lostHistory) {
          m.held.clear();
          m.heldKeys.clear();
          m.baseline = m.max = data.head;
        }
        m.epoch = data.epoch;
        for (const message of data.messages) receive(m, message, 'join reply', o.end);
        m.rejoining = false;
        m.fetching = (data.more || (!data.recovered && o.since !== undefined)) && m.max < data.head;
        if (!m.fetching) flush(m, o.end);
        break;
      }
      case 'history': {
        const m = member(o.client, o.room);
        if (o.outcome.ok) for (const message of o.outcome.data.messages) receive(m, message, 'history page', o.end);
        if (!o.outcome.ok || !o.outcome.data.more || o.outcome.data.messages.length === 0) flush(m, o.end);
        break;
      }
      case 'msg': {
        const m = member(o.client, o.room);
        const conn = `${o.client}\u0000${o.conn}\u0000${o.room}`;
        const last = lastPush.get(conn) ?? 0;
        lastPush.set(conn, Math.max(last, o.message.seq));
        if (o.message.seq === last) {
          report({ kind: 'duplicate-delivery', at: o.at, room: o.room, seq: o.message.seq, client: o.client, detail: `connection ${o.conn} of ${o.client} got seq ${o.message.seq} pushed twice` });
          ctx.ledger.note(o.room, o.message.seq, messageKey(o.message), `msg to ${o.client}`);
          break;
        }
        if (o.message.seq < last && !m.held.has(o.message.seq) && !m.reported.has(o.message.seq)) {
          m.reported.add(o.message.seq);
          report({ kind: 'out-of-order', at: o.at, room: o.room, seq: o.message.seq, client: o.client, detail: `connection ${o.conn} of ${o.client} got seq ${o.message.seq} pushed after seq ${last}` });
        }
        if (m.fetching || m.rejoining) m.buffer.push({ conn: o.conn, at: o.at, message: o.message });
        else receive(m, o.message, `msg on connection ${o.conn}`, o.at);
        break;
      }
      default:
        break;
    }
  }

  for (const m of members.values()) {
    if (m.epoch === undefined || quit.has(m.client)) continue;
    if (m.liveSince !== undefined) m.periods.push([m.liveSince, Infinity]);
    flush(m, Infinity);
    const owed = new Set<number>();
    for (const d of ctx.store[m.room] ?? []) owed.add(d.seq);
    for (const a of ctx.acks.values()) if (a.room === m.room) owed.add(a.seq);
    const missing = new Set([...owed].filter((s) => s > m.baseline && !m.held.has(s) && !m.reported.has(s)));
    if (missing.size === 0) continue;
    report({ kind: 'missing-delivery', room: m.room, seq: Math.min(...missing), client: m.client, detail: `${m.client} never held ${missing.size} message(s): seqs ${runs(missing).join(', ')}` });
  }
  const live = [...members.values()].filter((m) => m.epoch !== undefined && !quit.has(m.client));
  if (ctx.deliveryDeadlineMs !== undefined) for (const m of live) checkLateness(m, ctx.acks, ctx.deliveryDeadlineMs, report);
  return [...members.values()].filter((m) => m.epoch !== undefined).length;
}

/** Acknowledged messages that reached a member later than `deadlineMs` after their ack although it was live all along. */
function checkLateness(m: Member, acks: ReadonlyMap<string, Ack>, deadlineMs: number, report: (a: Anomaly) => void): void {
  const late = new Map<number, number>();
  for (const a of acks.values()) {
    if (a.room !== m.room) continue;
    const due = a.at + deadlineMs;
    if (!m.periods.some(([from, to]) => from <= a.at && to >= due)) continue;
    // Never received at all is a missing delivery, reported as such.
    const got = m.receivedAt.get(a.seq);
    if (got !== undefined && got > due) late.set(a.seq, got - a.at);
  }
  if (late.size === 0) return;
  const worst = Math.max(...late.values());
  report({ kind: 'late-delivery', room: m.room, seq: Math.min(...late.keys()), client: m.client, detail: `${m.client} got ${late.size} message(s) more than ${deadlineMs} ms after their ack (worst ${worst} ms): seqs ${runs(new Set(late.keys())).join(', ')}` });
}

/** "3-5", "9": the runs of consecutive integers in `seqs`, at most ten of them. */
function runs(seqs: ReadonlySet<number>): string[] {
  const sorted = [...seqs].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i] as number;
    while (i + 1 < sorted.length && sorted[i + 1] === (sorted[i] as number) + 1) i++;
    const end = sorted[i] as number;
    out.push(start === end ? `${start}` : `${start}-${end}`);
  }
  return out.length > 10 ? [...out.slice(0, 10), `… (${out.length - 10} more runs)`] : out;
}
