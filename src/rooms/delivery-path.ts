import type { Logger } from 'pino';
import { inSpan, SpanKind, type TraceContext, type Tracer } from '../shared/tracing.js';
import type { Broadcast } from '../bus/broadcast.js';
import { SeqTakenError, type DurableQueue } from '../bus/durable-queue.js';
import type { History } from './history.js';
import type { HealResult } from './room-feed.js';
import type { CommitStatus, RoomState } from './state/room-state.js';
import type { ChatMessage } from '../domain/messages.js';

/** A pending message younger than this is left to the gateway that sequenced it. */
export const FINISH_AFTER_MS = 500;
/** How long a heal waits for one pending message's append before it reads the room again. */
const FINISH_WAIT_MS = 750;
/** Messages this node failed to finish and keeps retrying; past it, the rooms' finishers take over. */
const MAX_UNFINISHED = 10_000;
/** Retries per round of `retryUnfinished`. */
const RETRY_BATCH = 200;

export interface DeliveryPathDeps {
  state: RoomState;
  queue: DurableQueue;
  bus: Broadcast;
  history: History;
  logger: Logger;
  /** Set while tracing is on. */
  tracer?: Tracer;
}

interface CommitBatch {
  messages: ChatMessage[];
  done: Promise<ReadonlyMap<ChatMessage, CommitStatus>>;
}

interface Unfinished {
  message: ChatMessage;
  epoch: string;
  failures: number;
}

/**
 * The second half of the message path (docs/protocol.md, "Durability before acknowledgement"): durable append, commit, then delivery.
 * A sequenced message becomes visible to members only once it is in the durable queue, and to
 * readers only once it is committed in the room state. Whatever fails between the steps leaves
 * the message pending in the room state, and it is finished — appended under the same msg id
 * (the queue drops a copy it already has), committed, delivered — by this node's retries, by a
 * resend of its cid, or by any node whose feed reaches the hole (`fill`). A message is never
 * dropped and the room's sequence never stalls at it.
 */
export class DeliveryPath {
  private readonly unfinished = new Map<string, Unfinished>();
  /** Commits of this event-loop turn, one room-state call per room and epoch (like the bus outbox). */
  private readonly commits = new Map<string, CommitBatch>();
  private retrying: Promise<void> | undefined;

  constructor(private readonly deps: DeliveryPathDeps) {}

  /**
   * Appends `m` to the durable queue, commits it and publishes it to the room. Rejects when the
   * append fails; the message is then kept for retries (`retry: true`). A failed commit after
   * a good append is not the sender's failure: the message is durable, its delivery waits for
   * the retry that commits it. `trace`: the send's span (tracing on), parent of each step's.
   */
  async finish(m: ChatMessage, epoch: string, opts: { retry: boolean; trace?: TraceContext }): Promise<'delivered' | 'held'> {
    const id = key(m);
    const { tracer } = this.deps;
    try {
      await inSpan(tracer, 'parley.queue.append', SpanKind.PRODUCER, opts.trace, m.room, m.seq, (span) => this.deps.queue.publish(m, epoch, span));
    } catch (err) {
      if (err instanceof SeqTakenError) {
        // The queue holds another message under this seq: the room state must learn it (a
        // restore) before it hands out seqs again; this message is resent under a new seq.
        this.unfinished.delete(id);
        this.deps.logger.error({ err, room: m.room, seq: m.seq }, 'a seq was handed out twice; the room is verified against the durable copy again');
        await this.deps.state.invalidate(m.room).catch((invalidateErr: unknown) =>
          this.deps.logger.error({ err: invalidateErr, room: m.room }, 'marking the room for verification failed'),
        );
      } else if (opts.retry) this.remember(m, epoch);
      throw err;
    }
    let status: CommitStatus;
    try {
      status = (await inSpan(tracer, 'parley.room_state.commit', SpanKind.CLIENT, opts.trace, m.room, m.seq, () => this.commit(epoch, m))).get(m) ?? 'gone';
    } catch {
      this.remember(m, epoch);
      return 'held';
    }
    this.unfinished.delete(id);
    // The room started a new epoch meanwhile, or a restore dropped this seq as a hole: the
    // members' feeds have moved past it, so it must not reach them; the sender resends it.
    if (status === 'gone') throw new Error(`the room state no longer holds ${m.room}:${m.seq} (its state was restored meanwhile)`);
    // Fan-out is at-most-once: a lost publish is healed by the receivers' feeds, so it must not fail the send.
    this.deps.bus.publish(m.room, { kind: 'msg', message: m, epoch }, opts.trace).catch((err: unknown) =>
      this.deps.logger.error({ err, room: m.room, seq: m.seq }, 'broadcast publish failed'),
    );
    return 'delivered';
  }

  /** Joins this turn's commit of the room (one call for every message the turn commits there). */
  private commit(epoch: string, m: ChatMessage): Promise<ReadonlyMap<ChatMessage, CommitStatus>> {
    const k = `${m.room}\u0000${epoch}`;
    const open = this.commits.get(k);
    if (open) {
      open.messages.push(m);
      return open.done;
    }
    const messages = [m];
    const done = new Promise<ReadonlyMap<ChatMessage, CommitStatus>>((resolve, reject) => {
      setImmediate(() => {
        this.commits.delete(k);
        this.deps.state.commit(m.room, epoch, messages).then(
          (statuses) => resolve(new Map(messages.map((one, i) => [one, statuses[i] ?? 'gone']))),
          (err: unknown) => {
            this.deps.logger.error({ err, room: m.room, messages: messages.length, first: messages[0]?.seq }, 'committing durable messages failed; retrying them before they are delivered');
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      });
    });
    this.commits.set(k, { messages, done });
    return done;
  }

  /** Starts a round of retries of the messages this node could not finish, unless one runs. */
  retryInBackground(): void {
    if (this.retrying || this.unfinished.size === 0) return;
    this.retrying = this.retryUnfinished().finally(() => (this.retrying = undefined));
  }

  /** One round of retries; each failure is counted on its message and logged on the first. */
  async retryUnfinished(): Promise<void> {
    // A full queue refuses them all: wait until it has room rather than hammer it.
    if (this.deps.queue.full) return;
    const batch = [...this.unfinished.values()].slice(0, RETRY_BATCH);
    for (const u of batch) {
      try {
        // Only a message still pending is appended again: one a restore dropped as a hole (or
        // of an epoch the room no longer has) would be stored without ever being delivered.
        const m = u.message;
        const [{ epoch }, { pending }] = await Promise.all([this.deps.state.head(m.room), this.deps.state.read(m.room, m.seq, m.seq)]);
        if (epoch !== u.epoch || !pending.some((p) => p.from === m.from && p.cid === m.cid)) {
          this.unfinished.delete(key(m));
          // Committed by someone else is the common case; delivered by them too.
          if (epoch !== u.epoch) this.deps.logger.warn({ room: m.room, seq: m.seq }, 'dropping a pending message of an epoch its room no longer has');
          continue;
        }
        await this.finish(u.message, u.epoch, { retry: false });
      } catch (err) {
        u.failures++;
        if (u.failures === 1) this.deps.logger.warn({ err, room: u.message.room, seq: u.message.seq }, 'finishing a pending message failed; retrying');
      }
    }
  }

  /** A heal's attempt to finish `p`, given up after FINISH_WAIT_MS (it goes on; a late failure is logged here). */
  private async finishWithin(p: ChatMessage, epoch: string): Promise<'delivered' | 'held' | 'late'> {
    const work = this.finish(p, epoch, { retry: false });
    const result = await withinMs(work, FINISH_WAIT_MS);
    if (result === 'late') {
      work.catch((err: unknown) => this.deps.logger.warn({ err, room: p.room, seq: p.seq }, 'finishing a pending message for a heal failed after the heal gave up on it; the next heal retries'));
    }
    return result;
  }

  /**
   * A feed's heal: the room's messages `from..to`, finishing the pending ones old enough to be
   * given up by their gateway. Older messages than the recent buffer holds come from the store.
   */
  async fill(room: string, from: number, to: number, epoch: string): Promise<HealResult> {
    const { durable, pending } = await this.deps.state.read(room, from, to);
    const now = Date.now();
    const finished: ChatMessage[] = [];
    let unsettled = false;
    for (const p of pending) {
      // A young one is left to its gateway; one whose append hangs (this node's queue link is
      // down) is left for the next heal, which may find it finished by another node meanwhile.
      if (now - p.ts < FINISH_AFTER_MS || (await this.finishWithin(p, epoch)) !== 'delivered') {
        unsettled = true;
        continue;
      }
      finished.push(p);
    }
    const found = [...durable, ...finished].sort((a, b) => a.seq - b.seq);
    // Only what the recent buffer no longer holds comes from the store: not a seq still pending
    // here, even if the store has it (durable, its commit lost): that one is finished, then
    // delivered, so that the readable head never stays below a delivered seq.
    const first = Math.min(found[0]?.seq ?? to + 1, pending[0]?.seq ?? to + 1);
    const older = first > from ? await this.deps.history.range(room, from, first - 1) : [];
    return { messages: [...older, ...found], unsettled };
  }

  private remember(m: ChatMessage, epoch: string): void {
    const id = key(m);
    if (this.unfinished.has(id)) return;
    if (this.unfinished.size >= MAX_UNFINISHED) {
      this.deps.logger.error({ room: m.room, seq: m.seq, held: this.unfinished.size }, 'too many unfinished messages held for retry; the room feeds will finish this one');
      return;
    }
    this.unfinished.set(id, { message: m, epoch, failures: 0 });
  }
}

/** `work`'s result, or 'late' if it takes longer than `ms` (it goes on; the caller reports a late failure). */
function withinMs<T>(work: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function key(m: ChatMessage): string {
  return `${m.room}\u0000${m.seq}`;
}
