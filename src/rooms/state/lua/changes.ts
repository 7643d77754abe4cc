// Lua of RedisRoomState's message changes (docs/protocol.md, "Message changes"), beside the
// scripts of lua/room-state.ts whose keys and helpers it shares.
//
// Keys of a room (tag T = {prefix:room}), besides those of lua/room-state.ts:
//   T:sum       hash  seq -> the summary of a message that changed or has replies (JSON, below)
//   T:rx:<seq>  hash  "<reaction>\0<user>" -> "<seq>:<ts>" of that user's latest react (seq
//                     negative: unreact) on message <seq>
// meta.sum names the epoch T:sum belongs to: any other value (a new epoch, a restore) means T:sum
// is dropped before use. meta.rbase is the counter of the last restore: a message at or below it
// may have changes this state lost, so without a summary it takes one from the durable copy.
//
// A summary: {a = author, c = seq of the newest change or reply folded in, v = version,
// d = delete seq, dt = delete ts, e = the latest edit as JSON text {"body","meta"}, es = its seq,
// el = seqs of its edits in the buffer, r = {reaction = {n = count, u = first users}},
// p = {n = replies, s = seq, f = from, t = ts of the newest}}.
import { DEDUPE_HIT, RESTRICTIONS } from './fragments.js';
import { ENSURE_EPOCH } from './room-state.js';

/** JSON text of a string exactly as JavaScript's JSON.stringify writes it (the buffer compares members as strings). */
const JSON_TEXT = `
local escapes = {['"'] = '\\\\"', ['\\\\'] = '\\\\\\\\', ['\\b'] = '\\\\b', ['\\f'] = '\\\\f', ['\\n'] = '\\\\n', ['\\r'] = '\\\\r', ['\\t'] = '\\\\t'}
local function jstr(s)
  return '"' .. (string.gsub(s, '[%z\\1-\\31"\\\\]', function(c) return escapes[c] or string.format('\\\\u%04x', string.byte(c)) end)) .. '"'
end
local function jarr(list)
  local out = {}
  for i = 1, #list do out[i] = jstr(list[i]) end
  return '[' .. table.concat(out, ',') .. ']'
end
local function jnum(n)
  return string.format('%d', n)
end
`;

/** \`stripped(m)\`: the JSON of message or edit \`m\` without its body and meta, fields in canonical order. */
export const STRIPPED = `${JSON_TEXT}
local function stripped(m)
  local out = '{"room":' .. jstr(m.room) .. ',"seq":' .. jnum(m.seq) .. ',"cid":' .. jstr(m.cid) .. ',"from":' .. jstr(m.from) .. ',"body":"","ts":' .. jnum(m.ts)
  if m.parent then out = out .. ',"parent":' .. jnum(m.parent) end
  if m.op then out = out .. ',"op":' .. jstr(m.op) .. ',"target":' .. jnum(m.target) end
  if m.version then out = out .. ',"version":' .. jnum(m.version) end
  return out .. '}'
end
`;

/** Rewrites the events of \`key\` at \`seq\` without their body and meta. */
const STRIP = `${STRIPPED}
local function strip(key, seq)
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', key, seq, seq)) do
    redis.call('ZREM', key, old)
    redis.call('ZADD', key, seq, stripped(cjson.decode(old)))
  end
end
`;

/**
 * KEYS: meta, recent, reads, pend, dedupe, sum, rx of the target, mod, slow. ARGV: candidate
 * epoch, JSON before the seq, JSON after it (no closing brace), recentMax, dedupe TTL ms, op
 * (edit, delete, react, unreact, reply), target seq, user, reaction, admin (1/0), kinds per
 * message, users shown, the edit as JSON text, ts, mode, slow-mode exempt (1/0), a seed's summary
 * ('' for none), then the seed's rx entries (field, value). Modes as APPEND_LUA's: 'a' without
 * the room's restrictions, 'c' with them (a ban; a mute but to a delete; slow mode to a reply),
 * 'p' checks everything and returns {3, '', epoch} where 'c' would sequence. Returns {0, JSON,
 * epoch} sequenced, {1, JSON, epoch} a dup, {2, seq, ts, epoch} nothing to change, {-4, code,
 * until or wait ms} restricted, {-3, code, reason} refused, {-2} target unknown (seed it), {-1}
 * restore first.
 */
export const CHANGE_LUA = `${ENSURE_EPOCH}${DEDUPE_HIT}${RESTRICTIONS}${STRIP}
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
if not epoch then return {-1} end
local first = dedupe_hit(KEYS[2], KEYS[4], KEYS[5], epoch)
if first then return {1, first, epoch} end
local mode, now, slowmode = ARGV[15], tonumber(ARGV[14]), 0
if mode ~= 'a' then
  local refused
  refused, slowmode = restriction(KEYS[8], KEYS[9], ARGV[8], now, ARGV[16] == '1', ARGV[6] ~= 'delete', ARGV[6] == 'reply')
  if refused then return {-4, refused[1], refused[2]} end
end
local target = tonumber(ARGV[7])
local counter = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
if target < 1 or target > counter then return {-3, 'not_found', 'no message ' .. ARGV[7] .. ' in this room'} end
if redis.call('HGET', KEYS[1], 'sum') ~= epoch then
  redis.call('DEL', KEYS[6])
  redis.call('HSET', KEYS[1], 'sum', epoch)
end
local raw = redis.call('HGET', KEYS[6], ARGV[7])
local s
if raw then
  s = cjson.decode(raw)
elseif ARGV[17] ~= '' then
  s = cjson.decode(ARGV[17])
  redis.call('DEL', KEYS[7])
  for i = 18, #ARGV, 2 do redis.call('HSET', KEYS[7], ARGV[i], ARGV[i + 1]) end
else
  local found = redis.call('ZRANGEBYSCORE', KEYS[2], target, target)[1]
  if not found or target <= (tonumber(redis.call('HGET', KEYS[1], 'rbase')) or 0) then return {-2} end
  local m = cjson.decode(found)
  if m.op then return {-3, 'not_found', ARGV[7] .. ' is a change, not a message'} end
  s = {a = m.from, c = 0, v = 1}
  redis.call('DEL', KEYS[7])
end
local op, user, reaction = ARGV[6], ARGV[8], ARGV[9]
if s.d then
  if op == 'delete' then return {2, s.d, s.dt, epoch} end
  return {-3, 'not_found', 'the message was deleted'}
end
if op == 'edit' and s.a ~= user then return {-3, 'forbidden', 'only its author may edit a message'} end
if op == 'delete' and ARGV[10] ~= '1' and s.a ~= user then return {-3, 'forbidden', 'only its author may delete a message'} end
local field = reaction .. '\\0' .. user
local r = s.r or {}
if op == 'react' or op == 'unreact' then
  local held = redis.call('HGET', KEYS[7], field)
  local hseq, hts
  if held then
    local colon = string.find(held, ':', 1, true)
    hseq, hts = tonumber(string.sub(held, 1, colon - 1)), tonumber(string.sub(held, colon + 1))
  end
  if op == 'react' then
    if hseq and hseq > 0 then return {2, hseq, hts, epoch} end
    local kinds = 0
    for _ in pairs(r) do kinds = kinds + 1 end
    if not r[reaction] and kinds >= tonumber(ARGV[11]) then return {-3, 'forbidden', 'a message has at most ' .. ARGV[11] .. ' kinds of reaction'} end
  else
    if not hseq then return {-3, 'not_found', 'no such reaction of yours on the message'} end
    if hseq < 0 then return {2, -hseq, hts, epoch} end
  end
end
if mode == 'p' then return {3, '', epoch} end
if mode == 'c' then note_slow(KEYS[9], ARGV[8], now, slowmode) end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local ts = ARGV[14]
local extra = ''
if op == 'edit' or op == 'delete' then
  s.v = (s.v or 1) + 1
  extra = ',"version":' .. jnum(s.v)
end
if op == 'edit' then
  s.e, s.es = ARGV[13], seq
  local el = s.el or {}
  el[#el + 1] = seq
  s.el = el
elseif op == 'delete' then
  s.d, s.dt, s.e, s.es = seq, tonumber(ts), nil, nil
  for _, key in ipairs({KEYS[2], KEYS[4]}) do
    strip(key, target)
    for _, e in ipairs(s.el or {}) do strip(key, e) end
  end
  s.el = nil
elseif op == 'react' or op == 'unreact' then
  local e = r[reaction] or {n = 0, u = {}}
  local shown = tonumber(ARGV[12])
  if op == 'react' then
    redis.call('HSET', KEYS[7], field, seq .. ':' .. ts)
    e.n = e.n + 1
    if #e.u < shown then e.u[#e.u + 1] = user end
  else
    redis.call('HSET', KEYS[7], field, '-' .. seq .. ':' .. ts)
    e.n = e.n - 1
    local kept = {}
    for _, u in ipairs(e.u) do if u ~= user then kept[#kept + 1] = u end end
    e.u = kept
    if #e.u < math.min(e.n, shown) then
      -- The first users in reacting order, from every reactor of the message.
      local prefix = reaction .. '\\0'
      local all, on = redis.call('HGETALL', KEYS[7]), {}
      for i = 1, #all, 2 do
        local f, v = all[i], all[i + 1]
        local at = tonumber(string.sub(v, 1, string.find(v, ':', 1, true) - 1))
        if at > 0 and string.sub(f, 1, #prefix) == prefix then on[#on + 1] = {at, string.sub(f, #prefix + 1)} end
      end
      table.sort(on, function(x, y) return x[1] < y[1] end)
      e.u = {}
      for i = 1, math.min(#on, shown) do e.u[i] = on[i][2] end
    end
  end
  if e.n > 0 then r[reaction] = e else r[reaction] = nil end
  s.r = r
  extra = ',"count":' .. jnum(e.n) .. ',"users":' .. (e.n > 0 and jarr(e.u) or '[]')
else
  local p = s.p or {n = 0}
  p.n, p.s, p.f, p.t = p.n + 1, seq, user, tonumber(ts)
  s.p = p
end
s.c = seq
redis.call('HSET', KEYS[6], ARGV[7], cjson.encode(s))
local json = ARGV[2] .. seq .. ARGV[3] .. extra .. '}'
redis.call('ZADD', KEYS[2], seq, json)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[4]) - 1)
redis.call('ZADD', KEYS[4], seq, json)
redis.call('SET', KEYS[5], epoch .. '|' .. json, 'PX', ARGV[5])
return {0, json, epoch}
`;

/**
 * KEYS: meta, sum, rx. ARGV: epoch, seq, the summary, then rx entries (field, value). Puts the
 * summary of message `seq` taken from the durable copy after a restore, unless the room moved to
 * another epoch or the message has one already (a change since the restore made it). Returns 1
 * when it put it.
 */
export const SEED_LUA = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'sum') ~= ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'sum', ARGV[1])
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('DEL', KEYS[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 1
`;

/** KEYS: meta, sum. ARGV: seqs. Each seq's summary JSON, or false; none while T:sum is not this epoch's. */
export const SUMMARIES_LUA = `
if redis.call('HGET', KEYS[1], 'sum') ~= redis.call('HGET', KEYS[1], 'epoch') then return {} end
return redis.call('HMGET', KEYS[2], unpack(ARGV))
`;
