import type { Broadcast } from '../bus/broadcast.js';
import { dependency, DependencyError } from '../shared/errors.js';
import type { Moderation, RestrictionKind, RoomModeration } from './state/moderation.js';
import type { ModerationAction } from '../domain/events.js';

/** Longest mute or ban with an end: a year; longer ones are given without an end. */
export const MAX_RESTRICTION_S = 365 * 86400;
export const MAX_SLOW_MODE_S = 86400;

export interface RestrictionResult {
  room: string;
  user: string;
  action: ModerationAction;
  /** Ms since the epoch; null: until lifted (and for unmute/unban). */
  until: number | null;
}

const LIFT: Record<RestrictionKind, ModerationAction> = { mute: 'unmute', ban: 'unban' };

/**
 * What moderators (the `moderate` request) and the admin API do to a room's members: mute and
 * ban with or without an end, lift them, and slow mode. Each change to a user is told to their
 * connections on every node (a `moderated` push, over the bus's control channel), and a ban
 * removes them from the room there. The bus is at-most-once: when telling the nodes fails the
 * change is stored all the same and the call fails with `overloaded`; made again, it tells them again.
 */
export class RoomModerationService {
  constructor(
    private readonly moderation: Moderation,
    private readonly bus: Broadcast,
    private readonly now: () => number = Date.now,
  ) {}

  /** Mutes or bans for `durationS` seconds (undefined: until lifted). */
  async restrict(room: string, kind: RestrictionKind, user: string, durationS: number | undefined): Promise<RestrictionResult> {
    const until = durationS === undefined ? null : this.now() + durationS * 1000;
    await dependency('room state', () => this.moderation.restrict(room, kind, user, until));
    const result = { room, user, action: kind, until };
    await this.tell(result);
    return result;
  }

  async lift(room: string, kind: RestrictionKind, user: string): Promise<RestrictionResult & { lifted: boolean }> {
    const lifted = await dependency('room state', () => this.moderation.lift(room, kind, user, this.now()));
    const result = { room, user, action: LIFT[kind], until: null };
    if (lifted) await this.tell(result);
    return { ...result, lifted };
  }

  async setSlowMode(room: string, seconds: number): Promise<{ room: string; slowmode: number }> {
    await dependency('room state', () => this.moderation.setSlowMode(room, seconds));
    return { room, slowmode: seconds };
  }

  read(room: string): Promise<RoomModeration> {
    return dependency('room state', () => this.moderation.read(room, this.now()));
  }

  private async tell(r: RestrictionResult): Promise<void> {
    try {
      await this.bus.publishControl({ kind: 'moderation', room: r.room, user: r.user, action: r.action, until: r.until });
    } catch (err) {
      throw new DependencyError('broadcast', 'stored, but the nodes could not be told: retry', { cause: err });
    }
  }
}
