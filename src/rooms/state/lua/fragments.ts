// Lua pieces shared by the scripts of RedisRoomState (lua/room-state.ts, lua/changes.ts).

export const SAME_AT = `
local function same_at(key, seq, json)
  local at = redis.call('ZRANGEBYSCORE', key, seq, seq)[1]
  if not at then return false end
  if at == json then return at end
  local a, b = cjson.decode(at), cjson.decode(json)
  if a.cid == b.cid and a.from == b.from then return at end
  return false
end
`;

/**
 * \`restriction(mod, slow, user, now, exempt, mute applies, slow mode applies)\`: the room's
 * restriction of \`user\` in force (ban, then mute, then slow mode), as {code, until or wait ms},
 * or nil; and the slow mode seconds to note with \`note_slow\` once the message is accepted.
 */
export const RESTRICTIONS = `
local function restriction(mod, slowkey, user, now, exempt, use_mute, use_slow)
  local function active(field)
    local v = redis.call('HGET', mod, field)
    if not v then return nil end
    local ends = tonumber(v)
    if ends > 0 and ends <= now then
      redis.call('HDEL', mod, field)
      return nil
    end
    return ends
  end
  local ban = active('ban:' .. user)
  if ban then return {'banned', ban}, 0 end
  if use_mute then
    local mute = active('mute:' .. user)
    if mute then return {'muted', mute}, 0 end
  end
  local slow = 0
  if use_slow and not exempt then slow = tonumber(redis.call('HGET', mod, 'slow') or '0') end
  if slow > 0 then
    local wait = tonumber(redis.call('HGET', slowkey, user) or '0') + slow * 1000 - now
    if wait > 0 then return {'slow_mode', wait}, slow end
  end
  return nil, slow
end
local function note_slow(slowkey, user, now, slow)
  if slow > 0 then
    redis.call('HSET', slowkey, user, now)
    redis.call('PEXPIRE', slowkey, slow * 1000)
  end
end
`;

/**
 * \`dedupe_hit(recent, pend, dedupe key, epoch)\`: the first event's JSON when the dedupe entry
 * is live, else nil. Only while its seq still names it (pending, in the buffer — a delete may
 * have rewritten it there, so by seq and identity — or older than the buffer): an entry whose seq
 * a restore gave to the durable copy's message is stale, and a miss.
 */
export const DEDUPE_HIT = `${SAME_AT}
local function dedupe_hit(recent, pend, key, epoch)
  local seen = redis.call('GET', key)
  if not seen then return nil end
  local bar = string.find(seen, '|', 1, true)
  if not bar or string.sub(seen, 1, bar - 1) ~= epoch then return nil end
  local first = string.sub(seen, bar + 1)
  if redis.call('ZSCORE', pend, first) or redis.call('ZSCORE', recent, first) then return first end
  local oldest = redis.call('ZRANGE', recent, 0, 0, 'WITHSCORES')[2]
  local seq = tonumber(string.match(first, '"seq":(%d+)'))
  if not oldest or (seq and seq < tonumber(oldest)) then return first end
  if seq and (same_at(recent, seq, first) or same_at(pend, seq, first)) then return first end
  return nil
end
`;
