import { randomBytes } from 'node:crypto';
import { HEARTBEAT_LUA, RELEASE_LOCK_LUA } from './lua/presence.js';
import type { PresenceClient, PresenceEntries } from './presence-entries.js';
import type { PresenceKeys } from './presence-keys.js';
import { defineScript, type ScriptCall } from './redis-scripts.js';

const REPORT_EVERY_MS = 60_000;
const REAPER_LOCK_MIN_MS = 10_000;

export interface PresenceHeartbeatDeps {
  client: PresenceClient;
  keys: PresenceKeys;
  entries: PresenceEntries;
  /** This node's reconciliation: run on every beat, told whenever its entries may have diverged. */
  reconciler: { diverge(): void; check(): Promise<unknown> };
  nodeId: string;
  /** The heartbeat key lives this long; it is renewed every third of it. */
  nodeTtlS: number;
  /** Failures of a beat (the first of a run, then at most one a minute), and renames. */
  onError: (err: unknown) => void;
  /** Each (room, user) this node's reaping took offline. */
  reaped: (room: string, user: string) => void;
  onNodeReaped?: ((node: string) => void) | undefined;
}

/**
 * A RedisPresence node's liveness: it heartbeats `{P:n:<node>}:alive` and, on the same timer,
 * reconciles its own entries and reaps those of nodes whose heartbeat expired. A heartbeat
 * that finds its key gone (the node was reaped while paused or partitioned, or Redis lost the
 * key) first renames the node (NODE_ID~hex), so everything is registered again under a name no
 * reaper is removing, and the old name is reaped like a dead node's.
 */
export class PresenceHeartbeat {
  private readonly beatScript: ScriptCall;
  private readonly release: ScriptCall;
  private readonly tickMs: number;
  /** How long a reaper lock lives if its holder dies before releasing it. */
  private readonly lockMs: number;
  /** This process's name in Redis: NODE_ID, then a new NODE_ID~hex each time its heartbeat was found gone. */
  private name: string;
  private readonly token = randomBytes(6).toString('hex');
  private beats = 0;
  /** The heartbeat value last written under the current name (undefined before the first). */
  private lastBeat: string | undefined;
  /** When the current run of timer failures was last reported (0: no run). */
  private failureReported = 0;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(private readonly deps: PresenceHeartbeatDeps) {
    this.name = deps.nodeId;
    this.tickMs = (deps.nodeTtlS * 1000) / 3;
    this.lockMs = Math.max(deps.nodeTtlS * 1000, REAPER_LOCK_MIN_MS);
    this.beatScript = defineScript(deps.client, 'parleyPresenceHeartbeat', 1, HEARTBEAT_LUA);
    this.release = defineScript(deps.client, 'parleyPresenceReleaseLock', 1, RELEASE_LOCK_LUA);
  }

  /** The name this node's entries are owned by now. */
  get node(): string {
    return this.name;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Heartbeats once (so this node counts before it serves anyone), then every nodeTtlS / 3. */
  async start(): Promise<void> {
    await this.heartbeat();
    this.timer = setInterval(() => this.tick(), this.tickMs).unref();
  }

  /** Stops the timer; a round in progress runs on (`idle` waits for it). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves once no round is in progress. Never rejects. */
  async idle(): Promise<void> {
    await this.round;
  }

  private tick(): void {
    if (this.round) return;
    this.round = this.beat()
      .then(
        () => {
          this.failureReported = 0;
        },
        (err: unknown) => {
          this.deps.reconciler.diverge();
          const now = Date.now();
          if (now - this.failureReported < REPORT_EVERY_MS) return;
          this.failureReported = now;
          this.deps.onError(err);
        },
      )
      .finally(() => {
        this.round = undefined;
      });
  }

  /** Heartbeat first: a node that was reaped must not act on what it believed before. */
  private async beat(): Promise<void> {
    await this.heartbeat();
    await this.deps.reconciler.check();
    await this.reapDead();
  }

  /**
   * Renews the heartbeat. The value it replaces tells what happened meanwhile: gone (reaped, or
   * Redis lost it) renames the node; another than the last one written (Redis came back with
   * an older copy, or another process has this NODE_ID) makes the reconciler compare everything.
   */
  private async heartbeat(): Promise<void> {
    const { client, keys, reconciler } = this.deps;
    const expected = this.lastBeat;
    // Taken as written even when the call fails: if it was not, the next beat sees the older value.
    this.lastBeat = `${this.token}:${++this.beats}`;
    const previous = await this.beatScript(keys.node(this.name).alive, this.lastBeat, this.deps.nodeTtlS * 1000);
    await client.sadd(keys.global().nodes, this.name);
    if (previous === null && expected !== undefined) return this.rename();
    if (previous !== expected) reconciler.diverge();
  }

  private async rename(): Promise<void> {
    const { client, keys } = this.deps;
    const old = this.name;
    this.name = `${this.deps.nodeId}~${randomBytes(4).toString('hex')}`;
    this.lastBeat = undefined;
    this.deps.reconciler.diverge();
    this.deps.onError(new Error(`presence: the heartbeat of ${old} was gone (reaped, or lost by Redis); its connections are counted again as ${this.name}`));
    // The beat just written under the old name goes at once: the old name is reaped now, not after a TTL.
    await client.del(keys.node(old).alive);
    await client.sadd(keys.global().nodes, old);
    await this.heartbeat();
  }

  /**
   * Every node looks for dead nodes; one at a time reaps each, under the dead node's reaper
   * lock (SET NX PX with this process's token, released by compare-and-delete). Reaping stays
   * idempotent (each (room, user) is reported by the one whose script removed it): a lock that
   * expired under a slow reaper costs duplicate work, never a wrong roster.
   */
  private async reapDead(): Promise<void> {
    const { client, entries, reaped } = this.deps;
    const now = Date.now();
    const registry = this.deps.keys.global().nodes;
    for (const node of await client.smembers(registry)) {
      if (node === this.name) continue;
      const keys = this.deps.keys.node(node);
      if ((await client.exists(keys.alive)) !== 0) continue;
      if ((await client.set(keys.reaper, this.token, 'PX', this.lockMs, 'NX')) === null) continue;
      try {
        // Another reaper may have finished with the node between the listing and the lock.
        if ((await client.sismember(registry, node)) === 0) continue;
        await entries.reapNode(node, now, this.name, reaped);
        this.deps.onNodeReaped?.(node);
      } finally {
        await this.release(keys.reaper, this.token);
      }
    }
    // This node's own grace entries that no timer of the room service expires (a failed expire,
    // a leave made by the reconciler) go when due: whichever expire removes the user reports it.
    await entries.expireDue(this.name, now, reaped);
  }
}
