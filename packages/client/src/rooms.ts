import type { Change } from './change-types.js';
import type { HistoryReply, JoinReply } from './reply-types.js';
import type { ChatMessage } from './types.js';

/** Emitted when a rejoin could not recover what happened while the client was away. */
export interface GapEvent {
  room: string;
  /** The room's epoch now; it differs from the held one when the room's history was lost. */
  epoch: string;
  /** The room's head: the client now holds the room from here on. */
  head: number;
  /** The partial `messages` of the reply, if any (not delivered as `msg` events). */
  messages: ChatMessage[];
  /** The partial `changes` of the reply, if any (not delivered as `change` events). */
  changes: Change[];
}

/** An event of a room's sequence: a message, or a change of one. */
export type RoomEvent = ChatMessage | Change;

export interface RoomSink {
  msg(message: ChatMessage): void;
  change(change: Change): void;
  gap(event: GapEvent): void;
}

const isChange = (e: RoomEvent): e is Change => 'op' in e && typeof e.op === 'string';

/** A reply's messages and changes as one run, oldest first. */
function eventsOf(reply: { messages: ChatMessage[]; changes?: Change[] }): RoomEvent[] {
  const changes = Array.isArray(reply.changes) ? reply.changes : [];
  return [...reply.messages, ...changes].sort((a, b) => a.seq - b.seq);
}

/** One join on the wire: what it asked for, and the connection generation it belongs to. */
export interface JoinTicket {
  readonly room: string;
  readonly since: number | undefined;
  readonly epoch: string | undefined;
  readonly generation: number;
}

/** What the client holds of a room: the epoch of its history and the highest seq delivered. */
export interface RoomPosition {
  /** The room's epoch from the last join reply; undefined until then. */
  epoch: string | undefined;
  /** The highest seq delivered (or skipped by a gap); undefined until the first join reply. */
  seq: number | undefined;
}

interface Room extends RoomPosition {
  joined: boolean;
  /**
   * Joins on the wire, and catch-ups after a reply with `more`: `msg` pushes wait in `buffer`
   * while any is, so older messages go first.
   */
  pending: number;
  buffer: RoomEvent[];
}

/**
 * Where the client stands in each room: the epoch and highest seq held, which is what a
 * rejoin asks `since`. Delivers each event (message or change) at most once and in seq order:
 * one whose seq is not above the highest held is a duplicate (docs/protocol.md, "Recovery").
 */
export class RoomTracker {
  readonly #rooms = new Map<string, Room>();
  #generation = 0;

  constructor(private readonly sink: RoomSink) {}

  has(room: string): boolean {
    return this.#rooms.has(room);
  }

  position(room: string): RoomPosition | undefined {
    const r = this.#rooms.get(room);
    return r && { epoch: r.epoch, seq: r.seq };
  }

  /** Rooms to rejoin after a reconnect. */
  joinedRooms(): string[] {
    return [...this.#rooms].filter(([, r]) => r.joined).map(([name]) => name);
  }

  /**
   * Starts a join: `since`/`epoch` are the held position, or `start` for a room not held yet
   * (an application resuming from its own storage).
   */
  beginJoin(room: string, start: { since?: number; epoch?: string } = {}): JoinTicket {
    let r = this.#rooms.get(room);
    if (!r) {
      r = { epoch: start.epoch, seq: start.since, joined: false, pending: 0, buffer: [] };
      this.#rooms.set(room, r);
    }
    r.pending++;
    const since = start.since ?? r.seq;
    const epoch = start.since === undefined ? r.epoch : start.epoch;
    return { room, since, epoch: since === undefined ? undefined : epoch, generation: this.#generation };
  }

  /**
   * Applies a join reply. True when the reply left messages out (`more`, its `messages` a run
   * from `since + 1`): the join then stays pending, holding the room's pushes back, until
   * `history` pages have brought the rest (`applyPage`, `abandonCatchUp`).
   */
  applyJoin(ticket: JoinTicket, reply: JoinReply): boolean {
    const r = this.#current(ticket);
    if (!r) return false;
    r.joined = true;
    const since = ticket.since;
    const events = eventsOf(reply);
    const continues = reply.more === true && since !== undefined && events[0]?.seq === since + 1;
    if (since === undefined) {
      // A fresh join starts at the head; an earlier reply may already have set the position.
      if (r.seq === undefined) {
        r.seq = reply.head;
        r.epoch = reply.epoch;
      }
    } else if (reply.recovered || continues) {
      r.epoch = reply.epoch;
      for (const e of events) this.#deliver(r, { ...e, room: ticket.room });
      if (continues) return true;
    } else {
      r.seq = reply.head;
      r.epoch = reply.epoch;
      this.sink.gap({ room: ticket.room, epoch: reply.epoch, head: reply.head, messages: reply.messages, changes: events.filter(isChange) });
    }
    this.#settle(r);
    return false;
  }

  /**
   * Delivers a page of `history` with `after` fetched for a join reply with `more` (epoch
   * `epoch`). True while there is more to fetch; false once the catch-up is over (or void: the
   * connection dropped, the room was left), its held pushes then delivered. A page that does not
   * continue from the highest seq held means the server lost what lies between: a gap.
   */
  applyPage(ticket: JoinTicket, epoch: string, page: HistoryReply): boolean {
    const r = this.#current(ticket);
    if (!r) return false;
    const events = eventsOf(page);
    for (const e of events) {
      if (r.seq !== undefined && e.seq > r.seq + 1) this.sink.gap({ room: ticket.room, epoch, head: e.seq - 1, messages: [], changes: [] });
      this.#deliver(r, { ...e, room: ticket.room });
    }
    if (page.more && events.length > 0) return true;
    this.#settle(r);
    return false;
  }

  /** The catch-up cannot go on (`history` refused): what it did not fetch, up to `head`, is a gap. */
  abandonCatchUp(ticket: JoinTicket, epoch: string, head: number): void {
    const r = this.#current(ticket);
    if (!r) return;
    if (r.seq === undefined || r.seq < head) {
      r.seq = head;
      this.sink.gap({ room: ticket.room, epoch, head, messages: [], changes: [] });
    }
    this.#settle(r);
  }

  abortJoin(ticket: JoinTicket): void {
    const r = this.#current(ticket);
    if (!r) return;
    r.pending--;
    if (!r.joined && r.pending === 0) this.#rooms.delete(ticket.room);
    else this.#flush(r);
  }

  /** The room was left (or lost): no more messages from it, no rejoin. */
  forget(room: string): void {
    this.#rooms.delete(room);
  }

  /** A `msg` or `change` push. */
  onEvent(event: RoomEvent): void {
    const r = this.#rooms.get(event.room);
    if (!r) return;
    if (r.pending > 0) r.buffer.push(event);
    else this.#deliver(r, event);
  }

  /**
   * The connection dropped: joins on the wire are void, and so is what they buffered (the
   * rejoin asks for it again with `since`). Rooms never joined are dropped.
   */
  disconnected(): void {
    this.#generation++;
    for (const [name, r] of this.#rooms) {
      if (!r.joined) this.#rooms.delete(name);
      r.pending = 0;
      r.buffer = [];
    }
  }

  #current(ticket: JoinTicket): Room | undefined {
    return ticket.generation === this.#generation ? this.#rooms.get(ticket.room) : undefined;
  }

  /** One join (or its catch-up) is over. */
  #settle(r: Room): void {
    r.pending--;
    this.#flush(r);
  }

  #flush(r: Room): void {
    if (r.pending > 0) return;
    const buffered = r.buffer;
    r.buffer = [];
    for (const m of buffered) this.#deliver(r, m);
  }

  #deliver(r: Room, event: RoomEvent): void {
    if (r.seq !== undefined && event.seq <= r.seq) return;
    r.seq = event.seq;
    if (isChange(event)) this.sink.change(event);
    else this.sink.msg(event);
  }
}
