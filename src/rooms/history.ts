import type { MessageStore } from '../persistence/message-store.js';
import type { ChatMessage, WireChange } from '../domain/messages.js';
import { asSent, foldSummary, wireChange } from '../domain/summary.js';
import { MessagePages } from './message-pages.js';
import { joinEnvelopeBytes, messageBytes, newestThatFit, pageEnvelopeBytes } from './reply-size.js';
import type { RoomHead, RoomState } from './state/room-state.js';

export interface HistoryLimits {
  /** RECOVERY_MAX: most events in a `join` reply. */
  recoveryMax: number;
  /** RECOVERY_MAX_BYTES: most bytes of a serialized reply frame that carries messages. */
  recoveryMaxBytes: number;
  /** REACTION_USERS_SHOWN: users named per reaction in a folded summary. */
  usersShown: number;
}

/** Where a `history` page is: below `before` (or the newest), or above `after`; never both. `parent`: that message's thread. */
export interface PageAnchor {
  before?: number | undefined;
  after?: number | undefined;
  parent?: number | undefined;
}

export interface HistoryPage {
  room: string;
  messages: ChatMessage[];
  changes: WireChange[];
  more: boolean;
}

export interface Recovery {
  messages: ChatMessage[];
  changes: WireChange[];
  recovered: boolean;
  more: boolean;
}

export type HistoryState = Pick<RoomState, 'head' | 'range' | 'summaries'>;
export type HistoryStore = Pick<MessageStore, 'range' | 'messages'>;

/** Messages read per round trip at first, before their sizes tell how many more fit. */
const FIRST_CHUNK = 100;

/**
 * Reads of a room's past: the recent buffer first, the message store for anything older. The
 * room's events are its messages and the changes of them (docs/protocol.md, "Message changes");
 * replies carry the messages in their latest version, their summaries folded in.
 */
export class History {
  private readonly pages: MessagePages;

  constructor(
    private readonly state: HistoryState,
    private readonly store: HistoryStore,
    private readonly limits: HistoryLimits,
  ) {
    this.pages = new MessagePages(state, store);
  }

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    if (to < from) return [];
    const recent = await this.state.range(room, from, to);
    const firstRecent = recent[0]?.seq ?? to + 1;
    if (firstRecent <= from) return recent;
    const older = await this.store.range(room, from, firstRecent - 1);
    return older.length > 0 ? [...older, ...recent] : recent;
  }

  /**
   * `join` recovery (docs/protocol.md, "Recovery"): the oldest messages above `since` that fit
   * RECOVERY_MAX and RECOVERY_MAX_BYTES; `more` when some up to the head were left out.
   */
  async recover(room: string, head: RoomHead, since: number | undefined, epoch: string | undefined): Promise<Recovery> {
    if (since === undefined || since > head.head || (epoch !== undefined && epoch !== head.epoch)) {
      return { messages: [], changes: [], recovered: false, more: false };
    }
    const budget = this.limits.recoveryMaxBytes - joinEnvelopeBytes(room, head.epoch);
    const { events, more } = await this.forward(room, since, head.head, this.limits.recoveryMax, budget);
    // A gap-free run from since + 1 of head - since events is every one of them.
    return { ...split(events), recovered: events.length === head.head - since, more };
  }

  /**
   * `history`: up to `limit` events above `after` (the oldest of them, `more` when newer ones
   * exist up to the head), or up to `limit` messages below `before` (the newest of them, or of
   * the room without `before`; `more` when older ones exist); with `parent`, that message's
   * replies only. Oldest first, within RECOVERY_MAX_BYTES.
   */
  async page(room: string, anchor: PageAnchor, limit: number): Promise<HistoryPage> {
    const { head } = await this.state.head(room);
    const budget = this.limits.recoveryMaxBytes - pageEnvelopeBytes(room);
    if (anchor.after !== undefined && anchor.parent === undefined) {
      const { events, more } = await this.forward(room, anchor.after, head, limit, budget);
      return { room, ...split(events), more };
    }
    const found = await this.pages.list(room, head, anchor, limit);
    const fold = await this.fold(room, found.messages);
    return { room, ...fitBudget(fold, budget, anchor.after !== undefined, found.more), changes: [] };
  }

  /** `events` with each message's summary folded in: the room state's when it has one (it is the newest), else the store's. */
  private async fold(room: string, events: ChatMessage[]): Promise<ChatMessage[]> {
    const seqs = events.filter((e) => e.op === undefined).map((e) => e.seq);
    if (seqs.length === 0) return events;
    const summaries = await this.state.summaries(room, seqs, this.limits.usersShown);
    if (summaries.size === 0) return events;
    return events.map((e) => {
      const s = e.op === undefined ? summaries.get(e.seq) : undefined;
      return s ? foldSummary(asSent(e), s) : e;
    });
  }

  /**
   * The oldest stored messages above `after`, up to `head`: a gap-free run of at most `count`
   * whose serialized size fits `budget` (the first one always goes, so a reader moves on).
   * When nothing is stored right above `after` (a store that keeps a bounded tail, or none),
   * the run starts where the stored history resumes. `more`: the run stops below `head`.
   */
  private async forward(room: string, after: number, head: number, count: number, budget: number): Promise<{ events: ChatMessage[]; more: boolean }> {
    const run: ChatMessage[] = [];
    let used = 0;
    let from = after + 1;
    let want = Math.min(count, FIRST_CHUNK);
    while (from <= head && run.length < count) {
      const to = Math.min(head, from + want - 1);
      let found = await this.range(room, from, to);
      if (run.length === 0 && found.length === 0 && to < head) {
        const resumes = await this.firstStored(room, to, head);
        if (resumes === undefined) break;
        found = await this.range(room, resumes, Math.min(head, resumes + want - 1));
      }
      found = await this.fold(room, found);
      for (const m of found) {
        const last = run[run.length - 1];
        if (last !== undefined && m.seq !== last.seq + 1) return { events: run, more: true };
        const size = messageBytes(m, last === undefined);
        if (last !== undefined && used + size > budget) return { events: run, more: true };
        used += size;
        run.push(m);
      }
      const last = run[run.length - 1];
      if (last === undefined || found.length === 0) break;
      from = last.seq + 1;
      // Sizes so far tell how many more fit the budget; one more finds where it ends.
      const fit = Math.ceil(Math.max(0, budget - used) / (used / run.length)) + 1;
      want = Math.max(1, Math.min(count - run.length, fit));
    }
    const last = run[run.length - 1];
    return { events: run, more: last !== undefined && last.seq < head };
  }

  /**
   * The lowest stored seq in (`missing`, `head`], given that `missing` is not stored and that
   * the stored history is a suffix of the room's: doubling steps, then halving.
   */
  private async firstStored(room: string, missing: number, head: number): Promise<number | undefined> {
    let lo = missing;
    let hi: number | undefined;
    for (let step = 1; hi === undefined; step *= 2) {
      const probe = Math.min(head, lo + step);
      if (await this.stored(room, probe)) hi = probe;
      else if (probe === head) return undefined;
      else lo = probe;
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.stored(room, mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  private async stored(room: string, seq: number): Promise<boolean> {
    return (await this.range(room, seq, seq)).length > 0;
  }
}

/** A run of events as a reply carries it: the messages, and the changes (as the `change` push has them). */
function split(events: readonly ChatMessage[]): { messages: ChatMessage[]; changes: WireChange[] } {
  const messages: ChatMessage[] = [];
  const changes: WireChange[] = [];
  for (const e of events) {
    if (e.op === undefined) messages.push(e);
    else changes.push(wireChange(e));
  }
  return { messages, changes };
}


/**
 * The messages of a page that fit `budget`: the oldest (a page above `after`) or the newest of
 * them; `more` when some were left out or `listed` said so.
 */
function fitBudget(messages: ChatMessage[], budget: number, oldest: boolean, listed: boolean): { messages: ChatMessage[]; more: boolean } {
  const fit = oldest ? [...newestThatFit([...messages].reverse(), budget)].reverse() : newestThatFit(messages, budget);
  return { messages: fit, more: listed || fit.length < messages.length };
}
