-- Apply observations to users' histories in Redis, atomically and in order:
-- for each, the facts as they stood before it (when asked), then what it
-- teaches. The same semantics as correlate.Memory; see redis.go for the key
-- layout. Several observations go in one call, so a batch of refreshes
-- costs Redis one command, not one each.
--
-- ARGV: prefix, refresh TTL, address TTL (µs), the caps (users, addresses,
-- refreshes, reuses, places, session addresses), n, then n observations of
-- 12 fields each (see obs below). Keys are built here from the prefix: the
-- script names other users' keys when it evicts anyway, so Redis Cluster is
-- out of reach, and this keeps the arguments short.
--
-- Times are microseconds since the epoch, passed and stored as decimal
-- strings: Lua's numbers are doubles (exact to 2^53, far beyond any
-- microsecond date), but Redis may turn a Lua number argument into
-- exponent notation, which PEXPIRE rejects, so every computed number sent
-- back to Redis goes through fmt.
local prefix = ARGV[1]
local refreshTTL, ipTTL = tonumber(ARGV[2]), tonumber(ARGV[3])
local maxUsers, maxIPs, maxRefreshes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local maxReuses, maxPlaces, sessionCap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local n = tonumber(ARGV[10])
local FIELDS, FIRST = 12, 10
local users, sessions = prefix .. 'users', prefix .. 'sessions'

local REFRESH, REUSE, LOGIN = 1, 2, 3
local function fmt(x) return string.format('%d', x) end
-- A user's history lives as long as an address stays known: Redis forgets
-- what the caps and the log-time checks have not already dropped. Each key's
-- expiration is renewed when it is written. Refreshes and reuses are judged
-- by log time, and a watcher may be a day behind (down, or catching up), so
-- their wall-clock expiration is never shorter than a day. The users set and
-- the session table are bounded by the caps instead.
--
-- Setting an expiration is a command per key, as many as the rest of the
-- learning, so a user's keys are not given theirs at every write: meta's
-- 'x' says when they were last renewed (wall ms) and 'k' which keys have
-- been given one since (bits below). A key gets one when it is written and
-- its bit is not set; all bits are cleared once 'x' is older than slack, so
-- a user seen now and then renews them every slack. Each expiration is its
-- TTL plus slack, so no key lives less than its TTL past its last write.
-- A key that vanished while its bit was set had expired, so it is older than
-- its TTL (longer than slack): its bit was cleared; or it was emptied by the
-- address check below, which clears its bit.
local day = 86400000
local slack = math.floor(math.min(math.ceil(ipTTL / 1000), day) / 8)
local keep = fmt(math.ceil(ipTTL / 1000) + slack)
local keepRefreshes = fmt(math.max(day, math.ceil(refreshTTL / 1000)) + slack)
local keepDay = fmt(day + slack)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local META, IPS, REFRESHES, REUSES, FOREIGN, COUNTRIES, ASNS = 1, 2, 4, 8, 16, 32, 64
-- evictions: users, users expired, addresses, addresses expired, sessions, session addresses
local ev = {0, 0, 0, 0, 0, 0}
local userKeys = {':m', ':r', ':i', ':x', ':y', ':c', ':a'}

local function dropUser(m)
  redis.call('ZREM', users, m)
  for _, suffix in ipairs(userKeys) do redis.call('DEL', prefix .. 'u:' .. m .. suffix) end
end

local function split(s)
  local out = {}
  for part in string.gmatch(s, '[^|]+') do out[#out + 1] = part end
  return out
end

-- fields splits a refresh member (name|ip|session|attribution|peer|agent)
-- keeping empty fields, so an absent session does not shift the rest.
local function fields(s)
  local out = {}
  for part in string.gmatch(s .. '|', '([^|]*)|') do out[#out + 1] = part end
  return out
end

-- clientKnown: an attribution that names the client; an unattributed or
-- ambiguous side is a proxy's address, which says nothing of the client.
local function clientKnown(attr)
  return attr ~= 'unattributed' and attr ~= 'ambiguous'
end

-- The session table's slots this call touches are read in one command
-- here and written back in one at the end: the call is atomic, so no one
-- sees the difference, and it saves two commands an event.
local slotValues, slotsWritten = {}, {}
do
  local slots, seen = {}, {}
  for i = 0, n - 1 do
    local slot = ARGV[FIRST + i * FIELDS + 4]
    if slot ~= '' and not seen[slot] then
      seen[slot] = true
      slots[#slots + 1] = slot
    end
  end
  if #slots > 0 then
    local vals = redis.call('HMGET', sessions, unpack(slots))
    for i, slot in ipairs(slots) do slotValues[slot] = vals[i] end
  end
end

-- sessionAddrs returns the addresses of a session in its slot of the
-- direct-mapped table, and whether the slot holds another session.
local function sessionAddrs(slot, shash)
  local v = slotValues[slot]
  if not v then return {}, false end
  local parts = split(v)
  if parts[1] ~= shash then return {}, true end
  table.remove(parts, 1)
  return parts, false
end

-- oldest is the last-seen time of the least recently seen user, so that
-- looking for users to expire costs nothing until one may have expired.
local function oldestSeen()
  local o = redis.call('ZRANGE', users, 0, 0, 'WITHSCORES')
  if o[2] then return tonumber(o[2]) end
  return math.huge
end
local oldest = oldestSeen()

-- expireUsers drops users unseen for longer than the address TTL at t: they
-- have no facts left. The work per event is bounded; the oldest go first,
-- as in the memory store.
local function expireUsers(t)
  if t - ipTTL <= oldest then return end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', users, '-inf', '(' .. fmt(t - ipTTL), 'LIMIT', 0, 16)) do
    dropUser(m)
    ev[2] = ev[2] + 1
  end
  oldest = oldestSeen()
end

-- makeRoom evicts the least recently seen users until one more fits, never
-- member itself (a lowered cap shrinks the set here too).
local function makeRoom(member)
  if redis.call('ZSCORE', users, member) ~= false then return end
  local over = redis.call('ZCARD', users) - maxUsers + 1
  if over <= 0 then return end
  for _, m in ipairs(redis.call('ZRANGE', users, 0, fmt(over))) do
    if over > 0 and m ~= member then
      dropUser(m)
      ev[1] = ev[1] + 1
      over = over - 1
    end
  end
end

-- moved keeps the shared index of chains that moved (correlate's
-- takeover.go): a refresh from another address than the user's previous
-- one, while that one's session was alive (SessionReach, 15 minutes), is
-- remembered under the address it left, mv:<address> (hash: user →
-- "to|to time|from time"), so a refusal logged by any replica's watcher
-- finds it. A refresh from an address clears the user's move away from it.
-- Each hash lives 15 minutes past its last write and holds at most
-- maxMovesPerAddr users.
local reach, maxMovesPerAddr = 900000000, 1024
local function moved(member, refreshes, ip, t, tstr)
  redis.call('HDEL', prefix .. 'mv:' .. ip, member)
  local before = redis.call('ZREVRANGEBYSCORE', refreshes, tstr, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not before[1] then return end
  local from, ft = split(before[1])[2], tonumber(before[2])
  if from == nil or from == ip or t - ft > reach then return end
  local k = prefix .. 'mv:' .. from
  if redis.call('HLEN', k) >= maxMovesPerAddr and redis.call('HEXISTS', k, member) == 0 then return end
  redis.call('HSET', k, member, ip .. '|' .. tstr .. '|' .. before[2])
  redis.call('PEXPIRE', k, fmt(reach / 1000))
end

local function apply(base)
  local action, tstr = tonumber(ARGV[base + 1]), ARGV[base + 2]
  local t = tonumber(tstr)
  local ip, slot, shash = ARGV[base + 3], ARGV[base + 4], ARGV[base + 5]
  local need = ARGV[base + 6] == '1'
  local country, asn = ARGV[base + 7], ARGV[base + 8]
  local member, session, ref = ARGV[base + 9], ARGV[base + 10], ARGV[base + 11]
  -- '|attribution|peer|agent' of a refresh whose client attribution found, else ''.
  local client = ARGV[base + 12]
  local u = prefix .. 'u:' .. member
  local meta, refreshes, ips, reuses, countries, asns = u .. ':m', u .. ':r', u .. ':i', u .. ':x', u .. ':c', u .. ':a'
  local foreign = u .. ':y'

  expireUsers(t)
  local m = redis.call('HMGET', meta, 'first', 'last', 'seq', 'x', 'k')
  local first, last, seq = tonumber(m[1]), tonumber(m[2]), tonumber(m[3])
  local renewed, given = tonumber(m[4]) or 0, tonumber(m[5]) or 0
  if not first then
    makeRoom(member)
    first, last, seq = t, t, 0
  end
  seq = seq + 1
  if now - renewed > slack then renewed, given = now, 0 end
  -- expire gives key its expiration unless it has one since 'x'.
  local function expire(key, b, ttl)
    if bit.band(given, b) ~= 0 then return end
    redis.call('PEXPIRE', key, ttl)
    given = bit.bor(given, b)
  end

  -- Refreshes and reuses are named, and sort by time then name, by the
  -- event's place in its log (offset zero-padded, the record's digest, then
  -- source) when there is one, which also makes learning an event twice (a
  -- restarted watcher re-reading lines whose effect Redis kept) a no-op;
  -- else by this user's sequence number.
  local name = ref
  if name == '' then name = string.format('~%012d', seq) end

  -- A reuse is foreign when the refresh that rotated its token (the latest
  -- at or before it, within the refresh TTL) came from another client.
  local isForeign = false
  if action == REUSE then
    local rot = redis.call('ZREVRANGEBYSCORE', refreshes, tstr, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if rot[1] and t - tonumber(rot[2]) <= refreshTTL then
      local f = fields(rot[1])
      local reuseAttr = string.match(client, '^|([^|]*)') or ''
      isForeign = f[2] ~= ip and clientKnown(f[4] or '') and clientKnown(reuseAttr)
    end
  end

  local facts = 0
  if need then
    local known = ref ~= '' and action == REUSE and redis.call('ZSCORE', reuses, name) ~= false
    local firstSeen = ''
    if redis.call('EXISTS', refreshes, ips, reuses) > 0 then firstSeen = fmt(first) end
    local prev, prevTime = '', ''
    local latest = redis.call('ZREVRANGEBYSCORE', refreshes, tstr, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if latest[1] and t - tonumber(latest[2]) <= refreshTTL then prev, prevTime = latest[1], latest[2] end
    local gone = redis.call('ZREMRANGEBYSCORE', ips, '-inf', '(' .. fmt(t - ipTTL))
    ev[4] = ev[4] + gone
    if gone > 0 then given = bit.band(given, bit.bnot(IPS)) end -- it may be empty, so gone
    local r10 = redis.call('ZCOUNT', reuses, fmt(t - 600000000), tstr)
    local r1h = redis.call('ZCOUNT', reuses, fmt(t - 3600000000), tstr)
    local f1h = redis.call('ZCOUNT', foreign, fmt(t - 3600000000), tstr)
    if action == REUSE and not known then
      r10, r1h = r10 + 1, r1h + 1
      if isForeign then f1h = f1h + 1 end
    end
    local sess = {}
    if slot ~= '' then sess = sessionAddrs(slot, shash) end
    facts = {prev, prevTime, firstSeen, r10, r1h, redis.call('ZREVRANGE', ips, 0, -1),
      redis.call('ZREVRANGE', countries, 0, -1), redis.call('ZREVRANGE', asns, 0, -1), sess, f1h}
  end

  -- learning
  if (action == REFRESH or action == LOGIN) and ip ~= '' then
    if redis.call('ZADD', ips, 'GT', tstr, ip) == 1 then
      local over = redis.call('ZCARD', ips) - maxIPs
      if over > 0 then
        redis.call('ZPOPMIN', ips, fmt(over))
        ev[3] = ev[3] + over
      end
    end
    expire(ips, IPS, keep)
  end
  if (action == REFRESH or action == LOGIN) and country ~= '' then
    redis.call('ZADD', countries, fmt(seq), country)
    redis.call('ZREMRANGEBYRANK', countries, 0, fmt(-(maxPlaces + 1)))
    expire(countries, COUNTRIES, keep)
  end
  if (action == REFRESH or action == LOGIN) and asn ~= '0' then
    redis.call('ZADD', asns, fmt(seq), asn)
    redis.call('ZREMRANGEBYRANK', asns, 0, fmt(-(maxPlaces + 1)))
    expire(asns, ASNS, keep)
  end
  if action == REFRESH and ip ~= '' then moved(member, refreshes, ip, t, tstr) end
  if action == REFRESH then
    redis.call('ZADD', refreshes, tstr, name .. '|' .. ip .. '|' .. session .. client)
    redis.call('ZREMRANGEBYRANK', refreshes, 0, fmt(-(maxRefreshes + 1)))
    expire(refreshes, REFRESHES, keepRefreshes)
  elseif action == REUSE then
    redis.call('ZADD', reuses, tstr, name)
    redis.call('ZREMRANGEBYRANK', reuses, 0, fmt(-(maxReuses + 1)))
    expire(reuses, REUSES, keepDay)
    if isForeign then
      redis.call('ZADD', foreign, tstr, name)
      redis.call('ZREMRANGEBYRANK', foreign, 0, fmt(-(maxReuses + 1)))
      expire(foreign, FOREIGN, keepDay)
    end
  end
  -- meta last, as it records which keys have their expiration.
  local metaDue = bit.band(given, META) == 0
  given = bit.bor(given, META)
  redis.call('HSET', meta, 'first', fmt(math.min(first, t)), 'last', fmt(math.max(last, t)), 'seq', fmt(seq),
    'x', fmt(renewed), 'k', fmt(given))
  if metaDue then redis.call('PEXPIRE', meta, keep) end
  redis.call('ZADD', users, 'GT', tstr, member)
  oldest = math.min(oldest, math.max(last, t))

  if action ~= REFRESH and action ~= LOGIN and action ~= REUSE then return facts end

  -- The session table: what addresses a session id was seen with.
  if slot == '' or ip == '' then return facts end
  local addrs, other = sessionAddrs(slot, shash)
  if other then ev[5] = ev[5] + 1 end
  for _, a in ipairs(addrs) do
    if a == ip then return facts end
  end
  if #addrs >= sessionCap then
    ev[6] = ev[6] + 1
    return facts
  end
  addrs[#addrs + 1] = ip
  if not slotsWritten[slot] then
    slotsWritten[slot] = true
    slotsWritten[#slotsWritten + 1] = slot
  end
  slotValues[slot] = shash .. '|' .. table.concat(addrs, '|')
  return facts
end

local out = {}
for i = 0, n - 1 do out[i + 1] = apply(FIRST + i * FIELDS) end
if #slotsWritten > 0 then
  local args = {}
  for _, slot in ipairs(slotsWritten) do
    args[#args + 1] = slot
    args[#args + 1] = slotValues[slot]
  end
  redis.call('HSET', sessions, unpack(args))
end
return {out, ev}
