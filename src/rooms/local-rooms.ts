import type { Logger } from 'pino';
import type { Broadcast } from '../bus/broadcast.js';
import type { RoomEvent } from '../domain/events.js';
import { DependencyError } from '../shared/errors.js';
import type { DeliveryPath } from './delivery-path.js';
import type { LocalDelivery, RoomMetrics } from './ports.js';
import { RoomFeed } from './room-feed.js';
import type { RoomPresence } from './room-presence.js';
import type { RoomState } from './state/room-state.js';

/**
 * How often this node compares its rooms' counters with what their members hold, and retries
 * the messages it could not finish: a quiet room's last message that the bus lost is delivered
 * within this plus FINISH_AFTER_MS (docs/protocol.md, "Quiet rooms").
 */
const WATCH_MS = 500;

interface LocalRoom {
  members: Set<string>;
  feed: RoomFeed;
  /** Settles once the bus subscription and the feed's starting head are in place. */
  ready: Promise<void>;
}

export interface LocalRoomsDeps {
  state: Pick<RoomState, 'head'>;
  bus: Broadcast;
  delivery: LocalDelivery;
  metrics: RoomMetrics;
  logger: Logger;
  path: Pick<DeliveryPath, 'fill' | 'retryInBackground'>;
  presence: Pick<RoomPresence, 'received'>;
}

/**
 * The rooms this node has members in: a bus subscription and an ordering feed per room while
 * it has a local member (interest-based subscriptions), the bus's events routed to them, and
 * the watch that catches each feed up with its room's counter.
 */
export class LocalRooms {
  private readonly local = new Map<string, LocalRoom>();
  private watchTimer: NodeJS.Timeout | undefined;
  private watching: Promise<void> | undefined;
  private watchFailing = false;

  constructor(private readonly deps: LocalRoomsDeps) {}

  start(): void {
    this.watchTimer ??= setInterval(() => this.watch(), WATCH_MS).unref();
    this.deps.bus.onRoomEvent((room, event) => this.onBusEvent(room, event));
  }

  close(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    for (const r of this.local.values()) r.feed.close();
    this.local.clear();
  }

  /** `connId` is a member of `room` here; the first one subscribes the node and starts the feed. */
  async add(room: string, connId: string): Promise<void> {
    const existing = this.local.get(room);
    if (existing) {
      existing.members.add(connId);
      return existing.ready;
    }
    const { delivery, logger, metrics, path } = this.deps;
    const feed = new RoomFeed({
      deliver: (message) => delivery.deliver(room, { kind: 'msg', message }),
      heal: (from, to, epoch) => {
        metrics.gapHealed(room);
        return path.fill(room, from, to, epoch);
      },
      onHealError: (err) => logger.error({ err, room }, 'healing a gap in the room feed failed; retrying'),
      onHealRecovered: () => logger.info({ room }, 'healing the room feed works again'),
      onEpochChange: () => {
        logger.warn({ room }, 'the room state was lost and its seqs started again: members must rejoin');
        delivery.roomReset(room);
      },
    });
    const ready = (async () => {
      await this.deps.bus.subscribe(room);
      const head = await this.deps.state.head(room);
      feed.init(head.epoch, head.head);
    })();
    const entry: LocalRoom = { members: new Set([connId]), feed, ready };
    this.local.set(room, entry);
    try {
      await ready;
    } catch (err) {
      if (this.local.get(room) === entry) this.local.delete(room);
      feed.close();
      throw new DependencyError('broadcast', 'could not subscribe to the room', { cause: err });
    }
  }

  /** The last local member gone: the feed stops and the node unsubscribes. */
  async remove(room: string, connId: string): Promise<void> {
    const entry = this.local.get(room);
    if (!entry?.members.delete(connId) || entry.members.size > 0) return;
    this.local.delete(room);
    entry.feed.close();
    await this.deps.bus.unsubscribe(room);
  }

  private onBusEvent(room: string, event: RoomEvent): void {
    const entry = this.local.get(room);
    if (!entry) return;
    if (event.kind === 'msg') entry.feed.push(event.message, event.epoch);
    else if (event.kind === 'presence') this.deps.presence.received(room, event);
    else this.deps.delivery.deliver(room, event);
  }

  /**
   * One round of the watch: retries what this node could not finish, and tells every local
   * room's feed the room's counter, so a message the bus lost is fetched (and a pending one
   * finished) even when no later message reveals the gap. Failures are logged once per outage.
   */
  private watch(): void {
    if (this.watching) return;
    // Retries run beside the catch-up: one hanging on a dead queue link must not hold it back.
    this.deps.path.retryInBackground();
    this.watching = (async () => {
      const rooms = [...this.local].filter(([, r]) => r.feed.delivered >= 0);
      const heads = await Promise.all(rooms.map(([room]) => this.deps.state.head(room)));
      heads.forEach((h, i) => rooms[i]?.[1].feed.catchUp(h.epoch, h.seq));
    })()
      .then(
        () => {
          if (this.watchFailing) this.deps.logger.info('room watch works again');
          this.watchFailing = false;
        },
        (err: unknown) => {
          if (!this.watchFailing) this.deps.logger.error({ err }, 'room watch failed (room state unavailable?); retrying');
          this.watchFailing = true;
        },
      )
      .finally(() => (this.watching = undefined));
  }
}
