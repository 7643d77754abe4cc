import { hashTag } from './redis-scripts.js';

/** The Redis keys of RedisPresence (layout in lua/presence.ts). */
export class PresenceKeys {
  constructor(private readonly prefix: string) {
    if (/[{}]/.test(prefix)) throw new Error('the Redis key prefix must not contain { or }');
  }

  room(room: string) {
    const t = hashTag(this.prefix, `r:${room}`);
    return { m: `${t}:m`, since: `${t}:since`, dev: `${t}:dev`, c: `${t}:c` };
  }

  user(user: string) {
    const t = hashTag(this.prefix, `u:${user}`);
    return { conns: `${t}:conns`, rooms: `${t}:rooms` };
  }

  node(node: string) {
    const t = hashTag(this.prefix, `n:${node}`);
    return { alive: `${t}:alive`, conns: `${t}:conns`, joins: `${t}:joins`, grace: `${t}:grace`, reaper: `${t}:reaper` };
  }

  global() {
    const t = `{${this.prefix}}`;
    return { nodes: `${t}:nodes`, rooms: `${t}:rooms` };
  }
}

/** A node's index entries and a room's connection fields: JSON arrays of strings. */
export function connEntry(user: string, connId: string): string {
  return JSON.stringify([user, connId]);
}

export function joinEntry(room: string, user: string, connId: string): string {
  return JSON.stringify([room, user, connId]);
}

export function parseEntry(entry: string, size: 2): [string, string];
export function parseEntry(entry: string, size: 3): [string, string, string];
export function parseEntry(entry: string, size: number): string[] {
  const parts: unknown = JSON.parse(entry);
  if (!Array.isArray(parts) || parts.length !== size || !parts.every((p) => typeof p === 'string')) {
    throw new Error(`malformed presence index entry ${entry}`);
  }
  return parts;
}

const BATCH = 100;

/** Runs `fn` over `items`, at most BATCH calls at a time (ioredis pipelines each batch). */
export async function forEachBatch<T>(items: Iterable<T>, fn: (item: T) => Promise<void>): Promise<void> {
  const all = [...items];
  for (let i = 0; i < all.length; i += BATCH) await Promise.all(all.slice(i, i + BATCH).map(fn));
}
