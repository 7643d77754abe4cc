// Lua of RedisRoomState, kept as string constants so that `tsx src/…` and the compiled dist/
// find it alike (the build copies no other files). Every script touches only keys of one
// room, all under the room's hash tag, so it runs on Redis Cluster.
//
// Keys of a room (tag T = {prefix:room}):
//   T:meta    hash  epoch, seq (the counter), run (the Redis run id the room was checked under)
//   T:recent  zset  message JSON scored by seq, capped at recentMax
//   T:pend    zset  message JSON scored by seq: sequenced, not yet known to be durable
//   T:reads   hash  user -> read pointer
//   T:d:…     string per (from, cid): "<epoch>|<message JSON>", PX = dedupe TTL
//   T:mod     hash  slow (slow mode seconds), mute:<user> and ban:<user> (end in ms, 0: none);
//                   kept across epochs (see ../moderation.ts)
//   T:slow    hash  user -> ms of their last accepted send while slow mode is on, PX = slow mode
//   T:sum, T:rx:<seq>  summaries of changed messages: see lua/changes.ts
//
// A room is "verified" while meta.run is the run id of the server that holds it. A restart from
// a snapshot or an AOF, or a failover to a replica, changes the run id: the copy the server holds
// may be older than what was acknowledged, so with a durable source every script that needs the
// counter refuses the room ({-1}) until RedisRoomState has brought it up to the durable copy.

import { DEDUPE_HIT, RESTRICTIONS, SAME_AT } from './fragments.js';

const RUN_ID = `
local function run_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
end
`;

/**
 * Returns the room's epoch. A missing meta hash (new room, or Redis lost it) starts a new
 * epoch at seq 0 with the caller's candidate, and drops what is left of the old epoch, so no
 * seq of the old epoch is ever read as one of the new. An empty candidate means "the caller
 * restores rooms from a durable source": the script then reports the room missing (false) when
 * its meta is gone or was not verified under this server's run id, and changes nothing.
 */
export const ENSURE_EPOCH = `${RUN_ID}
local function ensure_epoch(meta, recent, reads, pend, candidate)
  local epoch = redis.call('HGET', meta, 'epoch')
  if candidate == '' then
    if epoch and redis.call('HGET', meta, 'run') == run_id() then return epoch end
    return false
  end
  if epoch then return epoch end
  redis.call('DEL', recent, reads, pend)
  redis.call('HSET', meta, 'epoch', candidate, 'seq', 0)
  return candidate
end
`;

/**
 * KEYS: meta, recent, reads, pend, dedupe, mod, slow. ARGV: candidate epoch, JSON before the
 * seq, JSON after the seq, recentMax, dedupe TTL in ms, mode, from, now ms, slow-mode exempt
 * ('1'/'0'). Returns {dup, message JSON, epoch}, or {-1} when the room must be restored first. A
 * dedupe entry of another epoch is stale (its seq names nothing in this one) and counts as a
 * miss, and so does one whose seq now names another message. A new message is pending until
 * `commit`. Modes: 'a' appends; 'c' first checks the room's restrictions on `from` after the
 * dedupe check, returning {-2, code, until or wait ms} instead of appending ('banned', 'muted',
 * 'slow_mode'); 'p' checks the same and returns {2, '', epoch} where 'c' would append.
 */
export const APPEND_LUA = `${ENSURE_EPOCH}${DEDUPE_HIT}${RESTRICTIONS}
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
if not epoch then return {-1} end
local first = dedupe_hit(KEYS[2], KEYS[4], KEYS[5], epoch)
if first then return {1, first, epoch} end
if ARGV[6] ~= 'a' then
  local now = tonumber(ARGV[8])
  local refused, slow = restriction(KEYS[6], KEYS[7], ARGV[7], now, ARGV[9] == '1', true, true)
  if refused then return {-2, refused[1], refused[2]} end
  if ARGV[6] == 'p' then return {2, '', epoch} end
  note_slow(KEYS[7], ARGV[7], now, slow)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local json = ARGV[2] .. seq .. ARGV[3]
redis.call('ZADD', KEYS[2], seq, json)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[4]) - 1)
redis.call('ZADD', KEYS[4], seq, json)
redis.call('SET', KEYS[5], epoch .. '|' .. json, 'PX', ARGV[5])
return {0, json, epoch}
`;

/**
 * KEYS: meta, pend, recent. ARGV: epoch, then per message: seq, JSON. Marks messages durable
 * (no longer pending). Returns one status per message: 1 committed now, 2 committed before (the
 * buffer holds it, or it is older than the buffer), 0 gone (another epoch, dropped as a hole by
 * a restore, or another message holds its seq): nobody may deliver it.
 */
export const COMMIT_LUA = `${SAME_AT}
local out = {}
local same = redis.call('HGET', KEYS[1], 'epoch') == ARGV[1]
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]
for i = 2, #ARGV, 2 do
  local seq, json = ARGV[i], ARGV[i + 1]
  if not same then
    out[#out + 1] = 0
  elseif redis.call('ZREM', KEYS[2], json) > 0 then
    out[#out + 1] = 1
  elseif redis.call('ZSCORE', KEYS[3], json) or not first or tonumber(seq) < tonumber(first) then
    out[#out + 1] = 2
  else
    -- A delete rewrote the message in the buffer (and pending): by seq and identity.
    local pending = same_at(KEYS[2], seq, json)
    if pending then
      redis.call('ZREM', KEYS[2], pending)
      out[#out + 1] = 1
    elseif same_at(KEYS[3], seq, json) then
      out[#out + 1] = 2
    else
      out[#out + 1] = 0
    end
  end
end
return out
`;

/** KEYS: meta. The room counts as unverified until the next restore. */
export const INVALIDATE_LUA = `return redis.call('HDEL', KEYS[1], 'run')`;

/** KEYS: pend. The room's pending messages, oldest first. */
export const PENDING_LUA = `return redis.call('ZRANGE', KEYS[1], 0, -1)`;

/**
 * KEYS: meta, recent, pend, then one dedupe key per message. ARGV: epoch, then per message:
 * seq, JSON. Drops pending messages a restore found at or below the durable head but not in the
 * durable copy: they were never made durable (so never delivered), and the members' feeds have
 * moved past them; left pending they would hold the readable head back for ever. Their dedupe
 * entries go too, so a resend is sequenced anew instead of answered with a seq nobody received.
 */
export const DROP_STALE_LUA = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local k = 4
for i = 2, #ARGV, 2 do
  local seq, json = ARGV[i], ARGV[i + 1]
  redis.call('ZREM', KEYS[3], json)
  redis.call('ZREM', KEYS[2], json)
  if redis.call('GET', KEYS[k]) == ARGV[1] .. '|' .. json then redis.call('DEL', KEYS[k]) end
  k = k + 1
end
return 1
`;

/**
 * KEYS: meta, recent, reads, pend. ARGV: candidate epoch. Returns {epoch, readable head,
 * counter}, or {-1} when the room must be restored first. The readable head stops below the
 * first pending seq: everything up to it is durable.
 */
export const HEAD_LUA = `${ENSURE_EPOCH}
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
if not epoch then return {-1} end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local readable = seq
if first[2] then readable = math.min(seq, tonumber(first[2]) - 1) end
return {epoch, readable, seq}
`;

/**
 * KEYS: recent, pend. ARGV: from, to. Returns {durable messages, pending messages} with
 * from <= seq <= to, oldest first: the recent buffer without the pending seqs, and those.
 */
export const READ_LUA = `
local pending = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[2], 'WITHSCORES')
local skip = {}
local held = {}
for i = 1, #pending, 2 do
  skip[pending[i + 1]] = true
  held[#held + 1] = pending[i]
end
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local durable = {}
for i = 1, #found, 2 do
  if not skip[found[i + 1]] then durable[#durable + 1] = found[i] end
end
return {durable, held}
`;

/**
 * KEYS: meta, recent, reads, pend. ARGV: candidate epoch, user, seq. Stores
 * max(current, min(seq, counter)); returns {stored, moved (0/1)}, or {-1} to restore first.
 */
export const SET_READ_LUA = `${ENSURE_EPOCH}
if not ensure_epoch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1]) then return {-1} end
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
 * First step of a restore. KEYS: meta, recent, reads, pend. ARGV: the durable epoch ('' when
 * the durable copy knows nothing of the room), a candidate epoch for that case. Returns {0} when
 * the room is verified already (another node restored it), else {1, run id, epoch in place}.
 * A durable copy of another epoch than the one Redis holds (or none held) wins: the old epoch's
 * buffer, read pointers and pending messages go, and the counter starts from 0 until `OPEN`.
 */
export const RESTORE_BEGIN_LUA = `${RUN_ID}
local run = run_id()
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch and redis.call('HGET', KEYS[1], 'run') == run then return {0} end
local wanted = ARGV[1]
if wanted == '' then wanted = epoch or ARGV[2] end
if epoch ~= wanted then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('HSET', KEYS[1], 'epoch', wanted, 'seq', 0)
  redis.call('HDEL', KEYS[1], 'run')
end
return {1, run, wanted}
`;

/**
 * Puts durable messages back. KEYS: meta, recent, pend, then one dedupe key per message.
 * ARGV: epoch, dedupe TTL ms, now ms, then per message: seq, JSON, ts. A durable message replaces
 * whatever Redis holds under its seq and is no longer pending; one still within the dedupe TTL
 * gets its dedupe entry back. Returns 0 (and changes nothing) when the epoch moved meanwhile.
 */
export const RESTORE_MESSAGES_LUA = `
local epoch = ARGV[1]
if redis.call('HGET', KEYS[1], 'epoch') ~= epoch then return 0 end
local ttl = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local k = 4
for i = 4, #ARGV, 3 do
  local seq = ARGV[i]
  redis.call('ZREMRANGEBYSCORE', KEYS[2], seq, seq)
  redis.call('ZADD', KEYS[2], seq, ARGV[i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], seq, seq)
  local left = tonumber(ARGV[i + 2]) + ttl - now
  if left > 0 then redis.call('SET', KEYS[k], epoch .. '|' .. ARGV[i + 1], 'PX', math.floor(left)) end
  k = k + 1
end
return 1
`;

/**
 * Last step of a restore: KEYS: meta, recent. ARGV: run id seen by RESTORE_BEGIN, epoch,
 * durable seq, lowest restored seq (0 if none), recentMax. Raises the counter to at least the
 * durable seq, drops buffered messages below a hole the restore left (readers then go to the
 * store), trims the buffer, and marks the room verified. Returns 1, or 0 when the server
 * restarted or the epoch moved meanwhile (the caller starts over).
 */
export const RESTORE_OPEN_LUA = `${RUN_ID}
if run_id() ~= ARGV[1] or redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
local durable = tonumber(ARGV[3])
local lowest = tonumber(ARGV[4])
if lowest > 0 and seq < lowest - 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. lowest)
end
if durable > seq then redis.call('HSET', KEYS[1], 'seq', durable) end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
-- Summaries may be older than the durable copy: they are dropped, and a message up to here takes
-- its summary from the durable copy (a seed) when it next changes (lua/changes.ts).
redis.call('HSET', KEYS[1], 'run', ARGV[1], 'rbase', math.max(seq, durable))
redis.call('HDEL', KEYS[1], 'sum')
return 1
`;
