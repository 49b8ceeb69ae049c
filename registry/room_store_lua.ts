/**
 * The Lua scripts of {@linkcode RedisRoomStore}: each request is one script,
 * so Redis runs it whole, between any two requests of other registries. The
 * keyspace they share (every key starts with the store's prefix `P`, ARGV[1]):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `P seq` | string | a counter: room creations, joins and versions take the next value |
 * | `P rooms` | sorted set | room name, scored by its creation number (`G` is its reverse) |
 * | `P rooms:version` | string | the counter's value at the last room creation or destruction |
 * | `P r:ROOM` | hash | `created`, `version` (the counter's value at the last membership change) |
 * | `P r:ROOM:order` | sorted set | `HID:name:ip:port:`, scored by join number (`M` is its reverse) |
 * | `P r:ROOM:seg` | hash | HID → `name:ip:port:` |
 * | `P r:ROOM:owner` | hash | HID → owning connection id |
 * | `P r:ROOM:names` | hash | name → how many members hold it |
 * | `P owners` | hash | connection id → `HID:ROOM` it owns |
 * | `P seen` | sorted set | `HID:ROOM`, scored by last heard from (ms): the expiry index |
 * | `P r:ROOM:info` | hash | HID → member-info entry (JSON) of a member whose connection said hello |
 * | `P r:ROOM:src` | hash | HID → source address of its owner's connection (limited sources only) |
 * | `P src:ADDRESS` | hash | room → how many of its members are owned from ADDRESS (the per-source limits) |
 * | `P alive:REGISTRY` | string | set while registry REGISTRY runs (refreshed, expires): its owners are live |
 * | channel `P changes` | pub/sub | `MROOM` (members changed), `GROOM` (room created or destroyed), `IROOM` (member-info changed), `TOWNER` (OWNER's member was taken over) |
 *
 * Room and member names never hold `:` (they are fields of a frame), so
 * `HID:ROOM` splits at its first `:`. Keys are built inside the scripts, so
 * this runs on one Redis (or a Sentinel-watched primary), not Redis Cluster.
 *
 * @module
 */

const PRELUDE = `
local p = ARGV[1]
local function rk(room, what) return p .. 'r:' .. room .. what end
local function split(key)
  local i = string.find(key, ':', 1, true)
  return string.sub(key, 1, i - 1), string.sub(key, i + 1)
end
local function changed(room, roomsChanged)
  local v = redis.call('INCR', p .. 'seq')
  if roomsChanged then redis.call('SET', p .. 'rooms:version', v) end
  if redis.call('EXISTS', rk(room, '')) == 1 then redis.call('HSET', rk(room, ''), 'version', v) end
  redis.call('PUBLISH', p .. 'changes', (roomsChanged and 'G' or 'M') .. room)
end
local function reply(room, known)
  local v = redis.call('HGET', rk(room, ''), 'version')
  if not v then return {} end
  if v == known then return {v} end
  return {v, redis.call('ZREVRANGE', rk(room, ':order'), 0, -1)}
end
local function count(room, hid, source)
  local old = redis.call('HGET', rk(room, ':src'), hid)
  if old == source then return end
  if old then
    if redis.call('HINCRBY', p .. 'src:' .. old, room, -1) <= 0 then
      redis.call('HDEL', p .. 'src:' .. old, room)
    end
    redis.call('HDEL', rk(room, ':src'), hid)
  end
  if source ~= '' then
    redis.call('HINCRBY', p .. 'src:' .. source, room, 1)
    redis.call('HSET', rk(room, ':src'), hid, source)
  end
end
local function remove(room, hid)
  local seg = redis.call('HGET', rk(room, ':seg'), hid)
  if not seg then return nil end
  local key = hid .. ':' .. room
  local owner = redis.call('HGET', rk(room, ':owner'), hid) or ''
  if owner ~= '' and redis.call('HGET', p .. 'owners', owner) == key then
    redis.call('HDEL', p .. 'owners', owner)
  end
  redis.call('ZREM', rk(room, ':order'), hid .. ':' .. seg)
  redis.call('HDEL', rk(room, ':seg'), hid)
  redis.call('HDEL', rk(room, ':owner'), hid)
  redis.call('HDEL', rk(room, ':info'), hid)
  count(room, hid, '')
  local name = string.match(seg, '^([^:]*):')
  if redis.call('HINCRBY', rk(room, ':names'), name, -1) <= 0 then
    redis.call('HDEL', rk(room, ':names'), name)
  end
  local seen = redis.call('ZSCORE', p .. 'seen', key) or '0'
  redis.call('ZREM', p .. 'seen', key)
  local destroyed = 0
  if redis.call('ZCARD', rk(room, ':order')) == 0 then
    redis.call('DEL', rk(room, ''), rk(room, ':names'), rk(room, ':info'))
    redis.call('ZREM', p .. 'rooms', room)
    destroyed = 1
  end
  changed(room, destroyed == 1)
  return {room, hid, seg, owner, seen, destroyed}
end
`;

/**
 * ARGV: prefix, room, hid, name, segment, owner, now, maxRooms (0: none),
 * maxMembers (0: none), allowDuplicateNames (1/0), known version, and the
 * member-info entry of the owner (JSON; `''` for a connection without hello),
 * and the claim: `''` takes a listed member over from any other owner;
 * `k:KEY` (`k:` for no proved key) refuses it (`{'held'}`) when its owner's
 * registry is alive (`P alive:REGISTRY`) unless the owner proved KEY too
 * (`registry/ownership.ts`); then the owner's source address (`''`: not
 * limited), the most members of one room from one source and the most rooms
 * a source may have members in and still create one (0: none), counted
 * across registries in `P src:ADDRESS` (a takeover moves its member's count).
 * Returns `{denial}` or `{'ok', added, created, takenFrom, segment, version[, list]}`.
 */
export const JOIN = PRELUDE + `
local room, hid, name, seg, owner, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local maxRooms, maxMembers = tonumber(ARGV[8]), tonumber(ARGV[9])
local allowDup, known = ARGV[10] == '1', ARGV[11]
local source = ARGV[14] or ''
local perSource, roomsPerSource = tonumber(ARGV[15] or '0'), tonumber(ARGV[16] or '0')
local key = hid .. ':' .. room
local mine = redis.call('HGET', p .. 'owners', owner)
if mine and mine ~= key then
  local _, mineRoom = split(mine)
  if mineRoom ~= room then return {'other-room'} end
  return {'other-member'}
end
local exists = redis.call('EXISTS', rk(room, '')) == 1
local listed = exists and redis.call('HGET', rk(room, ':seg'), hid)
if not exists then
  if maxRooms > 0 and redis.call('ZCARD', p .. 'rooms') >= maxRooms then return {'too-many-rooms'} end
elseif not listed then
  local holders = tonumber(redis.call('HGET', rk(room, ':names'), name) or '0')
  if holders > 0 and not allowDup then return {'name-in-use'} end
  if maxMembers > 0 and redis.call('ZCARD', rk(room, ':order')) >= maxMembers then
    return {'room-full'}
  end
end
if source ~= '' and not listed then
  local sk = p .. 'src:' .. source
  if not exists then
    if roomsPerSource > 0 and redis.call('HLEN', sk) >= roomsPerSource then
      return {'rooms-per-source'}
    end
  elseif perSource > 0 and tonumber(redis.call('HGET', sk, room) or '0') >= perSource then
    return {'members-per-source'}
  end
end
local created, added, takenFrom = 0, 0, ''
if not exists then
  local s = redis.call('INCR', p .. 'seq')
  redis.call('ZADD', p .. 'rooms', s, room)
  redis.call('HSET', rk(room, ''), 'created', s)
  created = 1
end
if not listed then
  local s = redis.call('INCR', p .. 'seq')
  redis.call('ZADD', rk(room, ':order'), s, hid .. ':' .. seg)
  redis.call('HSET', rk(room, ':seg'), hid, seg)
  redis.call('HINCRBY', rk(room, ':names'), name, 1)
  listed = seg
  added = 1
else
  local previous = redis.call('HGET', rk(room, ':owner'), hid)
  if previous and previous ~= owner then
    local claimant = ARGV[13] or ''
    local registry = string.match(previous, '^([^/]*)/')
    if claimant ~= '' and registry and redis.call('EXISTS', p .. 'alive:' .. registry) == 1 then
      local held = redis.call('HGET', rk(room, ':info'), hid)
      local key = held and cjson.decode(held).key
      if not key or key ~= string.sub(claimant, 3) then return {'held'} end
    end
    takenFrom = previous
    redis.call('HDEL', p .. 'owners', previous)
    redis.call('PUBLISH', p .. 'changes', 'T' .. previous)
  end
end
local info = ARGV[12] or ''
local infoChanged = false
if info == '' then
  infoChanged = redis.call('HDEL', rk(room, ':info'), hid) == 1
elseif redis.call('HGET', rk(room, ':info'), hid) ~= info then
  redis.call('HSET', rk(room, ':info'), hid, info)
  infoChanged = true
end
count(room, hid, source)
redis.call('HSET', rk(room, ':owner'), hid, owner)
redis.call('HSET', p .. 'owners', owner, key)
redis.call('ZADD', p .. 'seen', now, key)
if added == 1 then changed(room, created == 1)
elseif infoChanged then redis.call('PUBLISH', p .. 'changes', 'I' .. room) end
local r = reply(room, known)
return {'ok', added, created, takenFrom, listed, r[1], r[2]}
`;

/**
 * Keepalives, any number in one call. ARGV: prefix, now, then per owner:
 * owner, the room the caller believes it is in, that room's known version.
 * Returns one entry per owner: `{}` (owns none) or `{room, hid, segment, version[, list]}`.
 */
export const RENEW = PRELUDE + `
local now, out = ARGV[2], {}
for i = 3, #ARGV, 3 do
  local key = redis.call('HGET', p .. 'owners', ARGV[i])
  if not key then
    out[#out + 1] = {}
  else
    local hid, room = split(key)
    redis.call('ZADD', p .. 'seen', 'XX', now, key)
    local known = ''
    if room == ARGV[i + 1] then known = ARGV[i + 2] end
    local r = reply(room, known)
    out[#out + 1] = {room, hid, redis.call('HGET', rk(room, ':seg'), hid), r[1], r[2]}
  end
end
return out
`;

/** ARGV: prefix, room, hid, owner. Returns `{}`, `{'not-owner'}` or a removal. */
export const DEPART = PRELUDE + `
local room, hid = ARGV[2], ARGV[3]
if not redis.call('HGET', rk(room, ':seg'), hid) then return {} end
if redis.call('HGET', rk(room, ':owner'), hid) ~= ARGV[4] then return {'not-owner'} end
return remove(room, hid)
`;

/** ARGV: prefix, owner. Returns `{}` or a removal. */
export const RELEASE = PRELUDE + `
local key = redis.call('HGET', p .. 'owners', ARGV[2])
if not key then return {} end
local hid, room = split(key)
local r = remove(room, hid)
if not r then
  redis.call('HDEL', p .. 'owners', ARGV[2])
  return {}
end
return r
`;

/**
 * ARGV: prefix, cutoff (members last seen before it go), most to examine.
 * Returns `{examined, removal fields…}`, six fields per removal.
 */
export const SWEEP = PRELUDE + `
local keys = redis.call('ZRANGEBYSCORE', p .. 'seen', '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {#keys}
for _, key in ipairs(keys) do
  local hid, room = split(key)
  local r = remove(room, hid)
  if r then
    for _, field in ipairs(r) do out[#out + 1] = field end
  else
    redis.call('ZREM', p .. 'seen', key)
  end
end
return out
`;

/** ARGV: prefix, room, known version. Returns `{}` (no room) or `{version[, list]}`. */
export const MEMBERS_REPLY = PRELUDE + `
return reply(ARGV[2], ARGV[3])
`;

/** ARGV: prefix, known version. Returns `{version[, rooms newest first]}`. */
export const ROOMS_REPLY = PRELUDE + `
local v = redis.call('GET', p .. 'rooms:version') or '0'
if v == ARGV[2] then return {v} end
return {v, redis.call('ZREVRANGE', p .. 'rooms', 0, -1)}
`;

/** ARGV: prefix, room. Returns `HID:segment` and last-seen pairs, newest join first. */
export const MEMBERS = PRELUDE + `
local list = redis.call('ZREVRANGE', rk(ARGV[2], ':order'), 0, -1)
local out = {}
for _, entry in ipairs(list) do
  local hid = split(entry)
  out[#out + 1] = entry
  out[#out + 1] = redis.call('ZSCORE', p .. 'seen', hid .. ':' .. ARGV[2]) or '0'
end
return out
`;

/** ARGV: prefix, owner. Returns `{}` or `{room, hid, segment, lastSeen}`. */
export const MEMBER_OF = PRELUDE + `
local key = redis.call('HGET', p .. 'owners', ARGV[2])
if not key then return {} end
local hid, room = split(key)
local seg = redis.call('HGET', rk(room, ':seg'), hid)
if not seg then return {} end
return {room, hid, seg, redis.call('ZSCORE', p .. 'seen', key) or '0'}
`;

/** ARGV: prefix. Returns `{rooms, members}`. */
export const COUNTS = PRELUDE + `
return {redis.call('ZCARD', p .. 'rooms'), redis.call('ZCARD', p .. 'seen')}
`;

/**
 * ARGV: prefix, owner, member-info entry (JSON; `''`: none). Sets the entry
 * of the member `owner` owns and publishes `IROOM`. Returns 1, or 0 when it owns none.
 */
export const SET_INFO = PRELUDE + `
local key = redis.call('HGET', p .. 'owners', ARGV[2])
if not key then return 0 end
local hid, room = split(key)
if ARGV[3] == '' then redis.call('HDEL', rk(room, ':info'), hid)
else redis.call('HSET', rk(room, ':info'), hid, ARGV[3]) end
redis.call('PUBLISH', p .. 'changes', 'I' .. room)
return 1
`;

/**
 * ARGV: prefix, room, known version. Returns `{}` (no room) or
 * `{version, list or false, HID, entry, HID, entry…}`: the `M` as
 * MEMBERS_REPLY answers it, then the member-info entries.
 */
export const MEMBER_INFO = PRELUDE + `
local r = reply(ARGV[2], ARGV[3])
if #r == 0 then return {} end
local out = {r[1], r[2] or false}
for _, field in ipairs(redis.call('HGETALL', rk(ARGV[2], ':info'))) do out[#out + 1] = field end
return out
`;
