import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from '../../redis-connection.js';

/**
 * Calls `each` with the keys matching `pattern`, on every master of a cluster, in SCAN batches,
 * until `maxKeys` were seen (the rest waits for the next call). Returns how many were seen.
 */
export async function scanKeys(redis: RedisClient, pattern: string, maxKeys: number, each: (keys: string[]) => Promise<void>): Promise<number> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let seen = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      const batch = keys.slice(0, maxKeys - seen);
      seen += batch.length;
      if (batch.length > 0) await each(batch);
    } while (cursor !== '0' && seen < maxKeys);
    if (seen >= maxKeys) break;
  }
  return seen;
}

/** `s` as a literal inside a SCAN MATCH pattern. */
export function globLiteral(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
