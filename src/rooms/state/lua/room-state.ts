// Lua of RedisRoomState, kept as string constants so that `tsx src/…` and the compiled dist/
// find it alike (the build copies no other files). Every script touches only keys of one
// room, all under the room's hash tag, so it runs on Redis Cluster.
//
// Keys of a room (tag T = {prefix:room}):
//   T:meta    hash  epoch, seq (the counter)
//   T:recent  zset  message JSON scored by seq, capped at recentMax
//   T:reads   hash  user -> read pointer
//   T:d:…     string per (from, cid): "<epoch>|<message JSON>", PX = dedupe TTL

/**
 * Returns the room's epoch. A missing meta hash (new room, or Redis lost it) starts a new
 * epoch at seq 0 with the caller's candidate, and drops what is left of the old epoch's buffer
 * and read pointers, so no seq of the old epoch is ever read as one of the new. An empty
 * candidate means "the caller restores lost rooms itself": the script then reports the room
 * missing (false) and changes nothing.
 */
const ENSURE_EPOCH = `
local function ensure_epoch(meta, recent, reads, candidate)
  local epoch = redis.call('HGET', meta, 'epoch')
  if epoch then return epoch end
  if candidate == '' then return false end
  redis.call('DEL', recent, reads)
  redis.call('HSET', meta, 'epoch', candidate, 'seq', 0)
  return candidate
end
`;

/**
 * KEYS: meta, recent, reads, dedupe. ARGV: candidate epoch, JSON before the seq, JSON after
 * the seq, recentMax, dedupe TTL in ms. Returns {dup, message JSON, epoch}, or {-1} when the
 * room is missing and the candidate was empty. A dedupe entry of another epoch is stale (its
 * seq names nothing in this one) and counts as a miss.
 */
export const APPEND_LUA = `${ENSURE_EPOCH}
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
if not epoch then return {-1} end
local seen = redis.call('GET', KEYS[4])
if seen then
  local bar = string.find(seen, '|', 1, true)
  if bar and string.sub(seen, 1, bar - 1) == epoch then
    return {1, string.sub(seen, bar + 1), epoch}
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local json = ARGV[2] .. seq .. ARGV[3]
redis.call('ZADD', KEYS[2], seq, json)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[4]) - 1)
redis.call('SET', KEYS[4], epoch .. '|' .. json, 'PX', ARGV[5])
return {0, json, epoch}
`;

/** KEYS: meta, recent, reads. ARGV: candidate epoch. Returns {epoch, head}, or {-1} when missing. */
export const HEAD_LUA = `${ENSURE_EPOCH}
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
if not epoch then return {-1} end
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0}
`;

/**
 * KEYS: meta, recent, reads. ARGV: candidate epoch, user, seq. Stores
 * max(current, min(seq, head)); returns {stored, moved (0/1)}, or {-1} when missing.
 */
export const SET_READ_LUA = `${ENSURE_EPOCH}
if not ensure_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) then return {-1} end
local head = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
local current = tonumber(redis.call('HGET', KEYS[3], ARGV[2])) or 0
local stored = math.max(current, math.min(tonumber(ARGV[3]), head))
if stored > current then
  redis.call('HSET', KEYS[3], ARGV[2], stored)
  return {stored, 1}
end
return {stored, 0}
`;

/** KEYS: meta, reads. ARGV: user. A pointer outlives its epoch only until the next ensure: hide it. */
export const GET_READ_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0
`;

/**
 * KEYS: meta, recent, reads. ARGV: epoch, seq. Puts back a lost room's counter from its durable
 * copy, unless another node did first. Returns 1 when it restored, 0 when the room existed.
 */
export const RESTORE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'seq', ARGV[2])
return 1
`;
