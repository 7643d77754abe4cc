// Lua of RedisPresence, kept as string constants (see lua/room-state.ts for why). Each script
// touches the keys of one hash tag only; cross-tag indexes are kept by the adapter in TS.
//
// Keys (P = prefix):
//   room  {P:r:<room>}:m      zset  users online or in grace, all scored 0 (a lex-ordered roster)
//         {P:r:<room>}:since  hash  user -> ms they came online
//         {P:r:<room>}:dev    hash  user -> connections in the room (0 inside the grace period)
//         {P:r:<room>}:c      hash  JSON [user, connId] -> owning node
//   user  {P:u:<user>}:conns  hash  connId -> owning node (the cluster-wide connection cap)
//         {P:u:<user>}:rooms  set   rooms the user may have a connection in (a superset)
//   node  {P:n:<node>}:alive  string, PX = node TTL (the heartbeat): <token>:<beat>
//         {P:n:<node>}:conns  set   JSON [user, connId] registered through this node
//         {P:n:<node>}:joins  set   JSON [room, user, connId] joined through this node
//         {P:n:<node>}:grace  zset  JSON [room, user] left last through this node, scored by
//                                   the ms after which anyone may expire them
//         {P:n:<node>}:reaper string, PX: the token of the one live node reaping this dead one
//   all   {P}:nodes           set   nodes that may own entries
//         {P}:rooms           zset  rooms with someone online, scored 0 (a superset)
//
// A node is a gateway's NODE_ID, or NODE_ID~<hex> once it found its heartbeat gone (it was
// reaped, or Redis lost it): it then re-registers its connections under the new name, taking
// their entries over (the owner fields), and the old name is reaped like a dead node's. A
// reaper removes an entry only while the dead node still owns it, so an entry taken over after
// the reaper read the dead node's index survives.

/** KEYS: user conns. ARGV: connId, node, max. Atomic check-and-add; 1 when counted, 0 when full. */
export const REGISTER_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/** KEYS: m, since, dev, c. ARGV: user, conn field, now, node. Returns 1 when first. The node takes the entry over. */
export const JOIN_LUA = `
local first = 0
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[1], 0)
  first = 1
end
if redis.call('HSET', KEYS[4], ARGV[2], ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
end
return first
`;

/**
 * KEYS: dev, c. ARGV: user, conn field, owner ('' for any). Returns 1 when that was the user's
 * last connection in the room. With an owner, an entry another node took over is left alone.
 */
export const LEAVE_LUA = `
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left > 0 then return 0 end
if left < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end
return 1
`;

/**
 * KEYS: dev, c of one room. ARGV: owner (not empty), then user and conn field for each entry.
 * LEAVE_LUA with that owner for each entry in turn (a reaper's page of one room in one call);
 * returns 1 per entry that was its user's last connection in the room, else 0.
 */
export const LEAVE_MANY_LUA = `
local out = {}
for i = 2, #ARGV, 2 do
  local last = 0
  if redis.call('HGET', KEYS[2], ARGV[i + 1]) == ARGV[1] and redis.call('HDEL', KEYS[2], ARGV[i + 1]) == 1 then
    local left = redis.call('HINCRBY', KEYS[1], ARGV[i], -1)
    if left <= 0 then
      if left < 0 then redis.call('HSET', KEYS[1], ARGV[i], 0) end
      last = 1
    end
  end
  out[#out + 1] = last
end
return out
`;

/** KEYS: user conns. ARGV: connId, owner. Removes the connection only while `owner` still owns it. */
export const UNREGISTER_OWNED_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
`;

/** KEYS: alive. ARGV: value, ttl ms. Renews the heartbeat; returns what it held (nil: it was gone). */
export const HEARTBEAT_LUA = `
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return previous
`;

/** KEYS: m, since, dev. ARGV: user. Removes a user with no connection; returns {removed, members left}. */
export const EXPIRE_LUA = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0, redis.call('ZCARD', KEYS[1])} end
if (tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or 0) > 0 then return {0, redis.call('ZCARD', KEYS[1])} end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return {1, redis.call('ZCARD', KEYS[1])}
`;

/** KEYS: m, c. Returns {users, connections} of the room: one snapshot, O(1). */
export const COUNTS_LUA = `
return {redis.call('ZCARD', KEYS[1]), redis.call('HLEN', KEYS[2])}
`;

/**
 * KEYS: m, since, dev. ARGV: lex start ('-' or '(' .. last user of the previous page), limit.
 * Returns {more (0/1), {user, since, devices, …}}: one consistent snapshot per page.
 */
export const MEMBERS_LUA = `
local limit = tonumber(ARGV[2])
local users = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, limit + 1)
local out = {}
for i, user in ipairs(users) do
  if i > limit then break end
  out[#out + 1] = user
  out[#out + 1] = redis.call('HGET', KEYS[2], user) or '0'
  out[#out + 1] = redis.call('HGET', KEYS[3], user) or '0'
end
return {#users > limit and 1 or 0, out}
`;

/**
 * KEYS: alive, conns, joins, grace of one node. Deletes the node's keys once it is not alive
 * and owns nothing any more; returns 1 then, else 0. Atomic against a reaper adding a grace entry.
 */
export const DROP_NODE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[2]) + redis.call('SCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4]) > 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return 1
`;

/** KEYS: a lock. ARGV: the holder's token. Deletes the lock only while that holder has it; 1 when deleted. */
export const RELEASE_LOCK_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
