import type { RedisClient } from '../../redis-connection.js';
import { STRIPPED } from './lua/changes.js';
import { defineScript, asNumber, type ScriptCall } from './redis-scripts.js';
import { globLiteral, scanKeys } from './redis-scan.js';

/**
 * KEYS: one dedupe entry ("<epoch>|<event JSON>"). A message's or an edit's event is rewritten
 * without its body and meta, its TTL kept, so that a resend of its cid stays a duplicate; other
 * changes (reactions: no body) are left. Returns 1 when it changed.
 */
const ERASE_DEDUPE_LUA = `${STRIPPED}
local seen = redis.call('GET', KEYS[1])
if not seen then return 0 end
local bar = string.find(seen, '|', 1, true)
if not bar then return 0 end
local m = cjson.decode(string.sub(seen, bar + 1))
if m.op and m.op ~= 'edit' then return 0 end
if m.body == '' and (m.meta == nil or m.meta == cjson.null) then return 0 end
redis.call('SET', KEYS[1], string.sub(seen, 1, bar) .. stripped(m), 'KEEPTTL')
return 1
`;

/** Most dedupe keys one erasure looks at. */
const MAX_KEYS = 1_000_000;

/**
 * The dedupe entries of the Redis room state hold each message as sent for DEDUPE_TTL_S (a resend
 * answers from them): an erasure blanks the user's there too (docs/operations.md, "Retention and
 * erasure"). One SCAN over the keyspace (every master of a cluster) for the user's entries, in
 * `room` or in every room; a script per key.
 */
export class RedisDedupeErasure {
  private readonly script: ScriptCall;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.script = defineScript(redis, 'parleyEraseDedupe', 1, ERASE_DEDUPE_LUA);
  }

  /** Blanks `user`'s live dedupe entries; how many changed. */
  async erase(user: string, room: string | undefined): Promise<number> {
    const tag = `{${globLiteral(this.prefix)}:${room === undefined ? '*' : globLiteral(room)}}`;
    let changed = 0;
    await scanKeys(this.redis, `${tag}:d:${user.length}:${globLiteral(user)}:*`, MAX_KEYS, async (keys) => {
      for (const key of keys) changed += asNumber(await this.script(key), 'erase dedupe');
    });
    return changed;
  }
}
