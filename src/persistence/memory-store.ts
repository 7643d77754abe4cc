import type { ChatMessage } from '../domain/messages.js';
import { applyEvent, cloneSummaryState, foldSummary, newSummaryState, stripBody, subjectOf, summarize, type SummaryState } from '../domain/summary.js';
import type { ErasableStore, MessageRef } from './erasable-store.js';
import type { MessageQuery, MessageStore } from './message-store.js';

interface StoredRoom {
  /** Events by seq, oldest first. */
  events: ChatMessage[];
  /** Summary states of the stored messages that changed or have replies. */
  summaries: Map<number, SummaryState>;
}

/** MessageStore of embedded mode: the newest `maxPerRoom` events of each room, in this process. */
export class MemoryMessageStore implements MessageStore, ErasableStore {
  private readonly rooms = new Map<string, StoredRoom>();

  constructor(
    private readonly maxPerRoom: number,
    /** REACTION_USERS_SHOWN. */
    private readonly usersShown = 10,
  ) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  put(messages: readonly ChatMessage[]): Promise<void> {
    for (const m of messages) this.insert(m);
    return Promise.resolve();
  }

  range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    const r = this.rooms.get(room);
    if (!r || to < from) return Promise.resolve([]);
    const events = r.events.slice(lowerBound(r.events, from), lowerBound(r.events, to + 1));
    return Promise.resolve(events.map((e) => this.folded(r, e)));
  }

  messages(room: string, query: MessageQuery): Promise<ChatMessage[]> {
    const r = this.rooms.get(room);
    if (!r) return Promise.resolve([]);
    const wanted = (m: ChatMessage): boolean => m.op === undefined && (query.parent === undefined || m.parent === query.parent) && m.ts >= (query.sinceTs ?? -Infinity);
    let found: ChatMessage[];
    if (query.after !== undefined) {
      found = r.events.slice(lowerBound(r.events, query.after + 1)).filter(wanted).slice(0, query.limit);
    } else {
      const below = query.before === undefined ? r.events : r.events.slice(0, lowerBound(r.events, query.before));
      found = below.filter(wanted).slice(-query.limit);
    }
    return Promise.resolve(found.map((m) => this.folded(r, m)));
  }

  summaryState(room: string, seq: number): Promise<SummaryState | 'change' | undefined> {
    const r = this.rooms.get(room);
    const m = r && this.at(r, seq);
    if (!r || !m) return Promise.resolve(undefined);
    if (m.op !== undefined) return Promise.resolve('change');
    const state = r.summaries.get(seq);
    return Promise.resolve(state ? cloneSummaryState(state) : newSummaryState(m.from));
  }

  authored(user: string, opts: { room?: string | undefined; limit: number }): Promise<MessageRef[]> {
    const found: MessageRef[] = [];
    for (const [room, r] of [...this.rooms].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (opts.room !== undefined && room !== opts.room) continue;
      for (const e of r.events) if (e.from === user && e.op === undefined && e.body !== '' && found.length < opts.limit) found.push({ room, seq: e.seq });
    }
    return Promise.resolve(found);
  }

  authoredRooms(user: string): Promise<string[]> {
    return Promise.resolve([...this.rooms].filter(([, r]) => r.events.some((e) => e.from === user)).map(([room]) => room));
  }

  /** Nothing to do: a tombstone reaches this store at once (MemoryQueue) and its fold strips the bodies. */
  blank(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Embedded mode keeps read pointers in the memory room state only. */
  lastRead(): Promise<number> {
    return Promise.resolve(0);
  }

  private folded(r: StoredRoom, e: ChatMessage): ChatMessage {
    const state = e.op === undefined ? r.summaries.get(e.seq) : undefined;
    return state ? foldSummary(e, summarize(state, this.usersShown)) : e;
  }

  private at(r: StoredRoom, seq: number): ChatMessage | undefined {
    const m = r.events[lowerBound(r.events, seq)];
    return m?.seq === seq ? m : undefined;
  }

  private insert(m: ChatMessage): void {
    let r = this.rooms.get(m.room);
    if (!r) this.rooms.set(m.room, (r = { events: [], summaries: new Map() }));
    const at = lowerBound(r.events, m.seq);
    if (r.events[at]?.seq === m.seq) return;
    r.events.splice(at, 0, m);
    this.fold(r, m);
    if (r.events.length > this.maxPerRoom) {
      for (const gone of r.events.splice(0, r.events.length - this.maxPerRoom)) r.summaries.delete(gone.seq);
    }
  }

  /** A change or reply reaches the message it is about (if this tail still holds it). */
  private fold(r: StoredRoom, e: ChatMessage): void {
    const subject = subjectOf(e);
    const target = subject === undefined ? undefined : this.at(r, subject);
    if (subject === undefined || !target || target.op !== undefined) return;
    let state = r.summaries.get(subject);
    if (!state) r.summaries.set(subject, (state = newSummaryState(target.from)));
    applyEvent(state, e);
    if (!state.deleted) return;
    // A delete leaves no body behind: neither the message's nor any of its edits'.
    r.events = r.events.map((x) => (x.seq === subject || (x.op === 'edit' && x.target === subject) ? stripBody(x) : x));
  }
}

/** Index of the first event whose seq is >= `seq` (the list is sorted by seq). */
function lowerBound(list: readonly ChatMessage[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid]?.seq ?? Infinity) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
