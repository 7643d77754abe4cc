import type { PresenceDelta, PresenceStatus } from '../domain/presence.js';

export interface PresenceBatchOptions {
  /** A change reporting more users online than this starts batching its room. */
  above: number;
  /** One delta per batching room per this many ms. */
  intervalMs: number;
}

export interface PresenceBatchHooks {
  /** The room is not batching: the change goes to every member as a `presence` push. */
  each(room: string, user: string, status: PresenceStatus): void;
  /** The room is batching: the change goes at once only to connections that take changes one by one. */
  batched(room: string, user: string, status: PresenceStatus): void;
  /** The end of an interval: a batching room's changes, each user by their final state. */
  delta(delta: PresenceDelta): void;
  /** A hook threw; the other rooms of the flush go on. */
  onError(err: unknown, room: string): void;
}

/**
 * The per-node half of presence in big rooms. Every node receives each presence change once
 * from the bus (O(1) work per change and node) and pushes it to its local members either at
 * once (small rooms) or, for a room that reported more than `above` users online, folded into
 * that room's batch: at the end of the interval the node publishes one delta to its members,
 * so a storm of changes costs each member one push per interval, not one per change.
 *
 * A room batches from the first change above the threshold until a flush empties its batch;
 * while a batch is open, every change joins it whatever its size, so a member never sees a
 * later change before an earlier one. A user changed several times within an interval is
 * reported once, by their last change: the delta leaves the members' roster as the bus order
 * left it. One timer serves every room of the node; it stops when nothing is pending.
 */
export class PresenceBatcher {
  private readonly pending = new Map<string, Map<string, PresenceStatus>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: PresenceBatchOptions,
    private readonly hooks: PresenceBatchHooks,
  ) {}

  /** True while `room` has changes waiting for the end of the interval. */
  batching(room: string): boolean {
    return this.pending.has(room);
  }

  /** `occupancy`: users online in the room after the change, if known (unknown never starts a batch). */
  change(room: string, user: string, status: PresenceStatus, occupancy: number | undefined): void {
    let batch = this.pending.get(room);
    if (!batch) {
      if (occupancy === undefined || occupancy <= this.opts.above) {
        this.hooks.each(room, user, status);
        return;
      }
      batch = new Map();
      this.pending.set(room, batch);
      this.timer ??= setInterval(() => this.flush(), this.opts.intervalMs).unref();
    }
    batch.set(user, status);
    this.hooks.batched(room, user, status);
  }

  /** Publishes every pending batch now (the interval timer calls it). */
  flush(): void {
    if (this.pending.size === 0) {
      this.stop();
      return;
    }
    const batches = [...this.pending];
    this.pending.clear();
    for (const [room, batch] of batches) {
      const delta: PresenceDelta = { room, online: [], offline: [] };
      for (const [user, status] of batch) delta[status].push(user);
      try {
        this.hooks.delta(delta);
      } catch (err) {
        this.hooks.onError(err, room);
      }
    }
  }

  /** Drops what is pending (the node is stopping: its members are being disconnected). */
  close(): void {
    this.pending.clear();
    this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
