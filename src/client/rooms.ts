import type { ChatMessage, JoinReply } from './types.js';

/** Emitted when a rejoin could not recover what happened while the client was away. */
export interface GapEvent {
  room: string;
  /** The room's epoch now; it differs from the held one when the room's history was lost. */
  epoch: string;
  /** The room's head: the client now holds the room from here on. */
  head: number;
  /** The partial `messages` of the reply, if any (not delivered as `msg` events). */
  messages: ChatMessage[];
}

export interface RoomSink {
  msg(message: ChatMessage): void;
  gap(event: GapEvent): void;
}

/** One join on the wire: what it asked for, and the connection generation it belongs to. */
export interface JoinTicket {
  readonly room: string;
  readonly since: number | undefined;
  readonly epoch: string | undefined;
  readonly generation: number;
}

export interface RoomPosition {
  epoch: string | undefined;
  /** The highest seq delivered (or skipped by a gap); undefined until the first join reply. */
  seq: number | undefined;
}

interface Room extends RoomPosition {
  joined: boolean;
  /** Joins on the wire: `msg` pushes wait in `buffer` while any is, so a reply's older messages go first. */
  pending: number;
  buffer: ChatMessage[];
}

/**
 * Where the client stands in each room: the epoch and highest seq held, which is what a
 * rejoin asks `since`. Delivers each message at most once and in seq order: a `msg` whose
 * seq is not above the highest held is a duplicate (PROTOCOL.md, "Recovery").
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

  applyJoin(ticket: JoinTicket, reply: JoinReply): void {
    const r = this.#current(ticket);
    if (!r) return;
    r.pending--;
    r.joined = true;
    if (ticket.since === undefined) {
      // A fresh join starts at the head; an earlier reply may already have set the position.
      if (r.seq === undefined) {
        r.seq = reply.head;
        r.epoch = reply.epoch;
      }
    } else if (!reply.recovered) {
      r.seq = reply.head;
      r.epoch = reply.epoch;
      this.sink.gap({ room: ticket.room, epoch: reply.epoch, head: reply.head, messages: reply.messages });
    } else {
      r.epoch = reply.epoch;
      for (const m of reply.messages) this.#deliver(r, { ...m, room: ticket.room });
    }
    this.#flush(r);
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

  onMsg(message: ChatMessage): void {
    const r = this.#rooms.get(message.room);
    if (!r) return;
    if (r.pending > 0) r.buffer.push(message);
    else this.#deliver(r, message);
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

  #flush(r: Room): void {
    if (r.pending > 0) return;
    const buffered = r.buffer;
    r.buffer = [];
    for (const m of buffered) this.#deliver(r, m);
  }

  #deliver(r: Room, message: ChatMessage): void {
    if (r.seq !== undefined && message.seq <= r.seq) return;
    r.seq = message.seq;
    this.sink.msg(message);
  }
}
