import type { LocalConnections, PresenceListener } from './presence.js';
import { connEntry, forEachBatch, joinEntry, parseEntry } from './presence-keys.js';

/** What the reconciler does to this node's own entries in Redis (implemented by RedisPresence). */
export interface OwnEntries {
  /** Sizes of this node's index sets. */
  counts(): Promise<{ conns: number; joins: number }>;
  /** Every entry of this node's index sets (JSON [user, connId] and [room, user, connId]). */
  read(): Promise<{ conns: Set<string>; joins: Set<string> }>;
  /** Counts the connection again, past the cap if need be: it is open already. */
  addConn(user: string, connId: string): Promise<void>;
  /** Joins again; true when the user was not online in the room. */
  addJoin(room: string, user: string, connId: string): Promise<boolean>;
  removeConn(user: string, connId: string): Promise<void>;
  /** Leaves; the user enters the grace period even when the entry itself was gone already. */
  removeJoin(room: string, user: string, connId: string): Promise<void>;
}

export interface ReconcileSummary {
  added: number;
  removed: number;
}

/**
 * Heartbeats a registration may wait for its connection to open (admitted, socket not open
 * yet) before it stops counting: a registration whose connection never opened nor was released.
 */
const OPENING_BEATS = 3;

/**
 * Heartbeats in a row whose size check may be put off while calls are under way. In a reconnect
 * storm joins and registrations are always in flight, so the sizes never agree at the instant
 * they are read; a pass then reads every entry of the node and walks every connection (about
 * 100 ms of one turn at 20,000 connections) for differences that settle by themselves. A real
 * divergence (a failed call, a lost heartbeat) is not put off: it sets `diverged`.
 */
const UNSETTLED_BEATS = 2;

/**
 * Keeps this node's presence entries equal to its open connections (the Presence port's
 * "eventually true"). Every heartbeat it compares the sizes of the node's index sets with the
 * open connections and their rooms (cheap: no entry crosses the wire); when they differ (for
 * UNSETTLED_BEATS + 1 heartbeats in a row while calls are under way), or after anything that
 * may have diverged (a failed call, a lost or unexpected heartbeat), it reads every entry and
 * adds what is missing and removes what no open connection holds.
 *
 * Calls made while a pass runs may interleave with its writes on the same connection (the
 * pass read the open connections before the call changed them): such a pass marks the state
 * diverged again, so the next heartbeat checks every entry once more.
 */
export class PresenceReconciler {
  private local: LocalConnections | undefined;
  /** At start too: a previous process under the same NODE_ID may have left entries behind. */
  private diverged = true;
  /** Registered connections not listed by `local` yet, by connId. */
  private readonly opening = new Map<string, { user: string; beats: number }>();
  /** The connections that calls touched while a pass runs. */
  private touched: Set<string> | undefined;
  /** Calls on this node's entries under way. */
  private inflight = 0;
  /** Heartbeats in a row whose sizes differed while calls were under way. */
  private unsettled = 0;

  constructor(
    private readonly entries: OwnEntries,
    private readonly restored: PresenceListener,
  ) {}

  track(local: LocalConnections): void {
    this.local = local;
  }

  /** A connection counted against the cap: live until released, or until it opens and later closes. */
  registered(user: string, connId: string): void {
    if (this.local) this.opening.set(connId, { user, beats: 0 });
  }

  released(connId: string): void {
    this.opening.delete(connId);
    this.touch(connId);
  }

  /** A call on the connection's entries is under way. */
  touch(connId: string): void {
    this.touched?.add(connId);
  }

  /** A call on this node's entries started (`settled` once it is over, whatever its outcome). */
  started(): void {
    this.inflight++;
  }

  settled(): void {
    this.inflight--;
  }

  /** The entries may differ from the open connections: the next check reads every one. */
  diverge(): void {
    this.diverged = true;
  }

  /** Once per heartbeat. Resolves with what it changed when it had to compare every entry. */
  async check(): Promise<ReconcileSummary | undefined> {
    const local = this.local;
    if (!local) return undefined;
    const want = this.wantedCounts(local);
    if (!this.diverged) {
      const have = await this.entries.counts();
      if (have.conns === want.conns && have.joins === want.joins) {
        this.unsettled = 0;
        return undefined;
      }
      if (this.inflight > 0 && ++this.unsettled <= UNSETTLED_BEATS) return undefined;
    }
    this.unsettled = 0;
    return this.pass(local);
  }

  /** Counts what should be in the index; forgets registrations that opened or waited too long. */
  private wantedCounts(local: LocalConnections): { conns: number; joins: number } {
    for (const [connId, o] of this.opening) {
      if (local.has(connId) || ++o.beats > OPENING_BEATS) this.opening.delete(connId);
    }
    const kept = local.counts?.();
    if (kept) return { conns: kept.conns + this.opening.size, joins: kept.joins };
    let conns = this.opening.size;
    let joins = 0;
    for (const c of local.all()) {
      conns++;
      joins += c.joined.size;
    }
    return { conns, joins };
  }

  private async pass(local: LocalConnections): Promise<ReconcileSummary> {
    this.diverged = false;
    const touched = new Set<string>();
    this.touched = touched;
    try {
      // Read before the open connections are listed: an entry a call adds after this read is
      // either listed below (kept) or not in what was read (left alone).
      const have = await this.entries.read();
      const conns = new Map<string, [string, string]>();
      const joins = new Map<string, [string, string, string]>();
      for (const c of local.all()) {
        conns.set(connEntry(c.user, c.connId), [c.user, c.connId]);
        for (const room of c.joined.keys()) joins.set(joinEntry(room, c.user, c.connId), [room, c.user, c.connId]);
      }
      for (const [connId, o] of this.opening) conns.set(connEntry(o.user, connId), [o.user, connId]);
      const written: string[] = [];
      const missingConns = [...conns].filter(([e]) => !have.conns.has(e)).map(([, c]) => c);
      const missingJoins = [...joins].filter(([e]) => !have.joins.has(e)).map(([, j]) => j);
      const staleJoins = [...have.joins].filter((e) => !joins.has(e)).map((e) => parseEntry(e, 3));
      const staleConns = [...have.conns].filter((e) => !conns.has(e)).map((e) => parseEntry(e, 2));
      await forEachBatch(missingConns, async ([user, connId]) => {
        written.push(connId);
        await this.entries.addConn(user, connId);
      });
      await forEachBatch(missingJoins, async ([room, user, connId]) => {
        written.push(connId);
        if (await this.entries.addJoin(room, user, connId)) this.restored(room, user);
      });
      await forEachBatch(staleJoins, async ([room, user, connId]) => {
        written.push(connId);
        await this.entries.removeJoin(room, user, connId);
      });
      await forEachBatch(staleConns, async ([user, connId]) => {
        written.push(connId);
        await this.entries.removeConn(user, connId);
      });
      if (written.some((connId) => touched.has(connId))) this.diverged = true;
      return { added: missingConns.length + missingJoins.length, removed: staleJoins.length + staleConns.length };
    } catch (err) {
      this.diverged = true;
      throw err;
    } finally {
      this.touched = undefined;
    }
  }
}
