import type { Logger } from 'pino';
import type { Broadcast } from '../bus/broadcast.js';
import type { LocalDelivery, RoomsConfig } from './ports.js';
import { PresenceBatcher } from './presence-batcher.js';
import type { Presence } from './state/presence.js';
import { TimerSet } from './timer-set.js';
import type { RoomEvent } from '../domain/events.js';
import type { PresenceStatus } from '../domain/presence.js';

/** Told of each online/offline change this node decided, at `ts` (the webhooks' presence events). */
export type PresenceHook = (room: string, user: string, status: PresenceStatus, ts: number) => void;

export interface RoomPresenceDeps {
  presence: Presence;
  bus: Broadcast;
  delivery: LocalDelivery;
  logger: Logger;
  config: Pick<RoomsConfig, 'presenceGraceS' | 'presenceBatch'>;
  hook?: PresenceHook;
}

/**
 * The presence side of the room service: counts connections in and out of rooms, runs the
 * grace period before `offline`, publishes each change with the room's occupancy after it, and
 * hands the changes the bus brings to this node's batcher (small rooms: one push per change;
 * big rooms: one delta per interval to the connections that opted in).
 */
export class RoomPresence {
  private readonly grace: TimerSet;
  private readonly batcher: PresenceBatcher;

  constructor(private readonly deps: RoomPresenceDeps) {
    const { delivery, logger } = deps;
    this.grace = new TimerSet((err, k) => logger.error({ err, key: k }, 'presence grace expiry failed'));
    this.batcher = new PresenceBatcher(deps.config.presenceBatch, {
      each: (room, user, status) => delivery.deliver(room, { kind: 'presence', user, status }),
      batched: (room, user, status) => delivery.presenceChange(room, user, status),
      delta: (delta) => delivery.presenceDelta(delta),
      onError: (err, room) => logger.error({ err, room }, 'pushing a presence delta failed'),
    });
  }

  start(): void {
    // Users another node's death took offline, and users this node's presence counted again after a fault.
    const announce = (status: PresenceStatus) => (room: string, user: string) => {
      this.announce(room, user, status).catch((err: unknown) =>
        this.deps.logger.error({ err, room, user, status }, 'publishing presence for a reaped or restored user failed'),
      );
    };
    this.deps.presence.onReaped(announce('offline'));
    this.deps.presence.onRestored(announce('online'));
  }

  close(): void {
    this.grace.clear();
    this.batcher.close();
  }

  /** Counts the connection in; the user's first connection publishes `online` (for the room's other members). */
  async join(room: string, user: string, connId: string): Promise<void> {
    this.grace.cancel(key(room, user));
    const { first } = await this.deps.presence.join(room, user, connId, Date.now());
    if (first) await this.announce(room, user, 'online');
  }

  /** Counts the connection out; true when it was the user's last one, who is then in the grace period. */
  async leave(room: string, user: string, connId: string): Promise<boolean> {
    const { last } = await this.deps.presence.leave(room, user, connId, Date.now());
    if (last) this.grace.schedule(key(room, user), this.deps.config.presenceGraceS * 1000, () => this.expire(room, user));
    return last;
  }

  /** A presence change from the bus, for this node's members of the room. */
  received(room: string, event: Extract<RoomEvent, { kind: 'presence' }>): void {
    this.batcher.change(room, event.user, event.status, event.occupancy);
  }

  private async expire(room: string, user: string): Promise<void> {
    if (await this.deps.presence.expire(room, user)) await this.announce(room, user, 'offline');
  }

  /**
   * Publishes a change with the room's occupancy after it, which tells every node whether to
   * batch the room. Without it (presence did not answer) the change is pushed at once, as in a
   * small room: more pushes, nothing wrong.
   */
  private async announce(room: string, user: string, status: PresenceStatus): Promise<void> {
    try {
      this.deps.hook?.(room, user, status, Date.now());
    } catch (err) {
      this.deps.logger.error({ err, room, user, status }, 'the presence hook failed');
    }
    let occupancy: number | undefined;
    try {
      occupancy = await this.deps.presence.occupancy(room);
    } catch (err) {
      this.deps.logger.warn({ err, room, user, status }, 'reading the occupancy of a presence change failed; it is pushed unbatched');
    }
    await this.deps.bus.publish(room, { kind: 'presence', user, status, ...(occupancy !== undefined ? { occupancy } : {}) });
  }
}

function key(room: string, user: string): string {
  return `${room}\u0000${user}`;
}
