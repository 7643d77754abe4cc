import { inForce, storedUntil, type Moderation, type Refusal, type RestrictionKind, type RoomModeration, type SendChecks } from './moderation.js';

interface RoomRules {
  slowModeS: number;
  mute: Map<string, number>;
  ban: Map<string, number>;
  /** Slow mode: each user's last accepted send, ms. */
  lastSend: Map<string, number>;
}

/**
 * Moderation of embedded mode, in this process; MemoryRoomState consults it (`check`, `sent`)
 * in the same step as its dedupe and sequencing.
 */
export class MemoryModeration implements Moderation {
  private readonly rooms = new Map<string, RoomRules>();

  setSlowMode(room: string, seconds: number): Promise<void> {
    this.rules(room).slowModeS = seconds;
    return Promise.resolve();
  }

  restrict(room: string, kind: RestrictionKind, user: string, until: number | null): Promise<void> {
    this.rules(room)[kind].set(user, storedUntil(until));
    return Promise.resolve();
  }

  lift(room: string, kind: RestrictionKind, user: string, now: number): Promise<boolean> {
    const map = this.rooms.get(room)?.[kind];
    const stored = map?.get(user);
    map?.delete(user);
    return Promise.resolve(stored !== undefined && inForce(stored, now) !== undefined);
  }

  banned(room: string, user: string, now: number): Promise<number | null | undefined> {
    return Promise.resolve(this.active(this.rooms.get(room)?.ban, user, now));
  }

  read(room: string, now: number): Promise<RoomModeration> {
    const rules = this.rooms.get(room);
    const list = (map: Map<string, number> | undefined) =>
      [...(map ?? [])]
        .map(([user, stored]) => ({ user, until: inForce(stored, now) }))
        .filter((r): r is { user: string; until: number | null } => r.until !== undefined)
        .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
    return Promise.resolve({ room, slowModeS: rules?.slowModeS ?? 0, muted: list(rules?.mute), banned: list(rules?.ban) });
  }

  /** The first restriction a send of `user` at `now` breaks (ban, mute, slow mode), if any. */
  check(room: string, user: string, now: number, checks: SendChecks): Refusal | undefined {
    const rules = this.rooms.get(room);
    if (!rules) return undefined;
    const ban = this.active(rules.ban, user, now);
    if (ban !== undefined) return { code: 'banned', until: ban };
    const mute = this.active(rules.mute, user, now);
    if (mute !== undefined) return { code: 'muted', until: mute };
    if (rules.slowModeS > 0 && !checks.slowExempt) {
      const wait = (rules.lastSend.get(user) ?? 0) + rules.slowModeS * 1000 - now;
      if (wait > 0) return { code: 'slow_mode', retryAfterMs: wait };
    }
    return undefined;
  }

  /** A send of `user` passed `check` and was sequenced: slow mode counts from it. */
  sent(room: string, user: string, now: number, checks: SendChecks): void {
    const rules = this.rooms.get(room);
    if (rules && rules.slowModeS > 0 && !checks.slowExempt) rules.lastSend.set(user, now);
  }

  /** Drops what has ended by `now`, so that rooms and users that come and go leave nothing behind. */
  sweep(now: number): void {
    for (const [room, rules] of this.rooms) {
      for (const kind of ['mute', 'ban'] as const) {
        for (const [user, stored] of rules[kind]) if (inForce(stored, now) === undefined) rules[kind].delete(user);
      }
      for (const [user, at] of rules.lastSend) if (at + rules.slowModeS * 1000 <= now) rules.lastSend.delete(user);
      if (rules.slowModeS === 0 && rules.mute.size === 0 && rules.ban.size === 0) this.rooms.delete(room);
    }
  }

  private active(map: Map<string, number> | undefined, user: string, now: number): number | null | undefined {
    const stored = map?.get(user);
    if (stored === undefined) return undefined;
    const until = inForce(stored, now);
    if (until === undefined) map?.delete(user);
    return until;
  }

  private rules(room: string): RoomRules {
    let rules = this.rooms.get(room);
    if (!rules) {
      rules = { slowModeS: 0, mute: new Map(), ban: new Map(), lastSend: new Map() };
      this.rooms.set(room, rules);
    }
    return rules;
  }
}
