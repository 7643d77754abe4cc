import { inForce, storedUntil, type Moderation, type Restriction, type RestrictionKind, type RoomModeration } from './moderation.js';
import { defineScript, hashTag, type RedisScripting, type ScriptCall } from './redis-scripts.js';

/** What RedisModeration needs of an ioredis `Redis` or `Cluster`. */
export interface ModerationClient extends RedisScripting {
  hget(key: string, field: string): Promise<string | null>;
  hset(key: string, field: string, value: string | number): Promise<number>;
  hdel(key: string, field: string): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
}

/** The keys of a room's restrictions, under the room state's hash tag (layout in lua/room-state.ts). */
export function moderationKeys(prefix: string, room: string): { mod: string; slow: string } {
  const tag = hashTag(prefix, room);
  return { mod: `${tag}:mod`, slow: `${tag}:slow` };
}

/** KEYS: mod. ARGV: field. Removes the field; returns what it held (false: nothing). */
const TAKE_LUA = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
`;

/**
 * Moderation in Redis: one hash per room beside its state, which RedisRoomState's append script
 * reads in the same call as the dedupe check. An ended restriction is removed by the next
 * send that meets it, or here when read. The client is the caller's.
 */
export class RedisModeration implements Moderation {
  private readonly take: ScriptCall;

  constructor(
    private readonly client: ModerationClient,
    private readonly prefix: string,
  ) {
    if (/[{}]/.test(prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.take = defineScript(client, 'parleyModerationTake', 1, TAKE_LUA);
  }

  async setSlowMode(room: string, seconds: number): Promise<void> {
    const { mod } = moderationKeys(this.prefix, room);
    if (seconds > 0) await this.client.hset(mod, 'slow', seconds);
    else await this.client.hdel(mod, 'slow');
  }

  async restrict(room: string, kind: RestrictionKind, user: string, until: number | null): Promise<void> {
    await this.client.hset(moderationKeys(this.prefix, room).mod, `${kind}:${user}`, storedUntil(until));
  }

  async lift(room: string, kind: RestrictionKind, user: string, now: number): Promise<boolean> {
    const held = await this.take(moderationKeys(this.prefix, room).mod, `${kind}:${user}`);
    return typeof held === 'string' && inForce(Number(held), now) !== undefined;
  }

  async banned(room: string, user: string, now: number): Promise<number | null | undefined> {
    const held = await this.client.hget(moderationKeys(this.prefix, room).mod, `ban:${user}`);
    return held === null ? undefined : inForce(Number(held), now);
  }

  async read(room: string, now: number): Promise<RoomModeration> {
    const all = await this.client.hgetall(moderationKeys(this.prefix, room).mod);
    const muted: Restriction[] = [];
    const banned: Restriction[] = [];
    for (const [field, value] of Object.entries(all)) {
      const colon = field.indexOf(':');
      const kind = field.slice(0, colon);
      const until = inForce(Number(value), now);
      if (colon < 0 || until === undefined) continue;
      if (kind === 'mute') muted.push({ user: field.slice(colon + 1), until });
      else if (kind === 'ban') banned.push({ user: field.slice(colon + 1), until });
    }
    const byUser = (a: Restriction, b: Restriction) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0);
    return { room, slowModeS: Number(all['slow'] ?? 0), muted: muted.sort(byUser), banned: banned.sort(byUser) };
  }
}
