-- Apply observations to users' histories in Redis, atomically and in order:
-- for each, the facts as they stood before it (when asked), then what it
-- teaches. The same semantics as correlate.Memory; see redis.go for the key
-- layout. Several observations go in one call, so a batch of refreshes
-- costs Redis one script call, not one each.
--
-- ARGV: prefix, refresh TTL, address TTL (µs), the caps (users, addresses,
-- refreshes, reuses, places, session addresses), n, then n observations of
-- 12 fields each (see apply below). Keys are built here from the prefix:
-- the script names other users' keys when it evicts anyway, so Redis
-- Cluster is out of reach, and this keeps the arguments short.
--
-- Times are microseconds since the epoch, passed and stored as decimal
-- strings: Lua's numbers are doubles (exact to 2^53, far beyond any
-- microsecond date), but Redis may turn a Lua number argument into
-- exponent notation, which PEXPIRE rejects, so every computed number sent
-- back to Redis goes through fmt.
--
-- What a call costs Redis is mostly the commands it runs (a command from a
-- script costs a few µs whatever it does), so a call writes each user's
-- keys once, not once an event: a user's state is read once a call (meta,
-- one HMGET), what learn-only events teach is gathered in Lua (addresses,
-- refreshes, places) and written at the end in one command per key, or
-- before anything reads that user's keys (facts). The call is atomic, so
-- no one sees the difference. Meta also keeps the user's latest refresh
-- (lt, lr), so the refresh before a new one is known without a read, and
-- the addresses this user's moves were recorded under (mf), so a refresh
-- clears a move only where there is one.
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
-- Turning a number into a string costs a Lua script more than most
-- commands, so times stay the strings they came as, and the constants are
-- made once a call.
local day = 86400000
local slack = math.floor(math.min(math.ceil(ipTTL / 1000), day) / 8)
local keep = fmt(math.ceil(ipTTL / 1000) + slack)
local keepRefreshes = fmt(math.max(day, math.ceil(refreshTTL / 1000)) + slack)
local keepDay = fmt(day + slack)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nowS = fmt(now)
local keepPlaces, keepRefreshRank, keepReuses = fmt(-(maxPlaces + 1)), fmt(-(maxRefreshes + 1)), fmt(-(maxReuses + 1))
-- bits' decimal strings, made once a call
local bitsS = setmetatable({}, {__index = function(t, k) local v = fmt(k); rawset(t, k, v); return v end})
local META, IPS, REFRESHES, REUSES, FOREIGN, COUNTRIES, ASNS = 1, 2, 4, 8, 16, 32, 64
-- evictions: users, users expired, addresses, addresses expired, sessions, session addresses
local ev = {0, 0, 0, 0, 0, 0}

-- The users this call has read, by member, and in the order first read.
local cache, order = {}, {}

local function dropUser(m)
  redis.call('ZREM', users, m)
  local u = prefix .. 'u:' .. m
  redis.call('DEL', u .. ':m', u .. ':r', u .. ':i', u .. ':x', u .. ':y', u .. ':c', u .. ':a')
  local U = cache[m]
  if U then
    U.dropped = true -- what it gathered goes with it, as it would have been written, then deleted
    cache[m] = nil
  end
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

-- after says whether a sorts after b as Redis sorts members of equal score
-- (bytes, not the locale Lua's < would use).
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- clientKnown: an attribution that names the client; an unattributed or
-- ambiguous side is a proxy's address, which says nothing of the client.
local function clientKnown(attr)
  return attr ~= 'unattributed' and attr ~= 'ambiguous'
end

-- The session table's slots this call touches are read in one command
-- here and written back in one at the end.
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

-- syncUsers writes the users set's scores (last seen) of the users this
-- call changed: before the set is read for evictions, and at the end.
local function syncUsers()
  local args = {}
  for _, U in ipairs(order) do
    if U.unsynced and not U.dropped then
      args[#args + 1] = U.lastS
      args[#args + 1] = U.member
      U.unsynced = false
    end
  end
  if #args > 0 then redis.call('ZADD', users, 'GT', unpack(args)) end
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
  syncUsers()
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
  syncUsers()
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

-- loadUser returns a user's state for this call, read once.
local function loadUser(member)
  local U = cache[member]
  if U then return U end
  local u = prefix .. 'u:' .. member
  local m = redis.call('HMGET', u .. ':m', 'first', 'last', 'seq', 'x', 'k', 'lt', 'lr', 'mf')
  -- Times are kept as numbers to compare and as strings to write (firstS,
  -- lastS); seq and the expiration bits are written only when changed.
  -- lt is the latest refresh's time ('' none; nil not known: a history
  -- older than this script, read from the refreshes once), lr its member.
  U = {member = member, meta = u .. ':m', refreshes = u .. ':r', ips = u .. ':i', reuses = u .. ':x',
    foreign = u .. ':y', countries = u .. ':c', asns = u .. ':a',
    first = tonumber(m[1]), firstS = m[1], last = tonumber(m[2]), lastS = m[2], seq = tonumber(m[3]) or 0,
    renewed = tonumber(m[4]) or 0, renewedS = m[4], given = tonumber(m[5]) or 0, givenWas = tonumber(m[5]) or 0,
    lt = m[6] or nil, lr = m[7] or nil, mf = m[8] or ' '}
  if not U.first then U.lt, U.lr, U.mf = '', nil, ' ' end
  U.ltWas, U.lrWas, U.mfWas, U.seqWas = U.lt, U.lr, U.mf, U.seq
  U.ltN = U.lt and U.lt ~= '' and tonumber(U.lt) -- lt as a number, to compare
  if U.ltN == nil then U.lt = nil end -- not known, or not a time: read again
  cache[member] = U
  order[#order + 1] = U
  return U
end

-- expire gives key its expiration unless it has one since 'x'.
local function expire(U, key, b, ttl)
  if bit.band(U.given, b) ~= 0 then return end
  redis.call('PEXPIRE', key, ttl)
  U.given = bit.bor(U.given, b)
end

local function place(U, key, gathered, b)
  if not gathered then return end
  redis.call('ZADD', key, unpack(gathered))
  redis.call('ZREMRANGEBYRANK', key, 0, keepPlaces)
  expire(U, key, b, keep)
end

-- flushUser writes what the user's learn-only events gathered.
local function flushUser(U)
  if U.ipOrder then
    local added
    if #U.ipOrder == 1 then
      added = redis.call('ZADD', U.ips, 'GT', U.newIPs[U.ipOrder[1]], U.ipOrder[1])
    else
      local args = {'GT'}
      for _, ip in ipairs(U.ipOrder) do
        args[#args + 1] = U.newIPs[ip]
        args[#args + 1] = ip
      end
      added = redis.call('ZADD', U.ips, unpack(args))
    end
    if added > 0 then
      local over = redis.call('ZCARD', U.ips) - maxIPs
      if over > 0 then
        redis.call('ZPOPMIN', U.ips, fmt(over))
        ev[3] = ev[3] + over
      end
    end
    expire(U, U.ips, IPS, keep)
    U.newIPs, U.ipOrder = nil, nil
  end
  place(U, U.countries, U.newCountries, COUNTRIES)
  place(U, U.asns, U.newASNs, ASNS)
  U.newCountries, U.newASNs = nil, nil
  if U.newRefreshes then
    redis.call('ZADD', U.refreshes, unpack(U.newRefreshes))
    redis.call('ZREMRANGEBYRANK', U.refreshes, 0, keepRefreshRank)
    expire(U, U.refreshes, REFRESHES, keepRefreshes)
    U.newRefreshes = nil
  end
end

-- prevRefresh returns the user's latest refresh at or before t (member,
-- time), from meta when t is past the latest, else from Redis.
local function prevRefresh(U, t, tstr)
  if U.lt == '' then return nil, nil end
  if U.ltN and t > U.ltN then return U.lr, U.lt end
  flushUser(U)
  local r = redis.call('ZREVRANGEBYSCORE', U.refreshes, tstr, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return r[1], r[2]
end

-- learnRefresh keeps the latest refresh in meta as it is in the set: the
-- highest time, then the highest member.
local function learnRefresh(U, t, tstr, mem)
  local r = U.newRefreshes
  if not r then
    r = {}
    U.newRefreshes = r
  end
  r[#r + 1] = tstr
  r[#r + 1] = mem
  if U.lt == nil then
    flushUser(U)
    local top = redis.call('ZREVRANGE', U.refreshes, 0, 0, 'WITHSCORES')
    U.lr, U.lt, U.ltN = top[1], top[2], tonumber(top[2])
  elseif U.lt == '' or t > U.ltN or (t == U.ltN and after(mem, U.lr or "")) then
    U.lr, U.lt, U.ltN = mem, tstr, t
  end
end

-- moved keeps the shared index of chains that moved (correlate's
-- takeover.go): a refresh from another address than the user's previous
-- one, while that one's session was alive (SessionReach, 15 minutes), is
-- remembered under the address it left, mv:<address> (hash: user →
-- "to|to time|from time"), so a refusal logged by any replica's watcher
-- finds it. A refresh from an address clears the user's move away from it.
-- Each hash lives 15 minutes past its last write and holds at most
-- maxMovesPerAddr users. Meta's mf lists the addresses this user's moves
-- are under (at most maxMovesKept; past it the oldest is cleared).
local reach, maxMovesPerAddr, maxMovesKept = 900000000, 1024, 8
local function moved(U, ip, t, tstr)
  local key, at = nil, false
  if U.mf ~= ' ' then
    key = ' ' .. ip .. ' '
    at = string.find(U.mf, key, 1, true)
  end
  if at then
    redis.call('HDEL', prefix .. 'mv:' .. ip, U.member)
    U.mf = string.sub(U.mf, 1, at) .. string.sub(U.mf, at + #key)
  end
  local before, bt = prevRefresh(U, t, tstr)
  if not before then return end
  local from, ft = string.match(before, '^[^|]*|([^|]*)'), tonumber(bt)
  if from == nil or from == '' or from == ip or t - ft > reach then return end
  local k = prefix .. 'mv:' .. from
  if redis.call('HLEN', k) >= maxMovesPerAddr and redis.call('HEXISTS', k, U.member) == 0 then return end
  redis.call('HSET', k, U.member, ip .. '|' .. tstr .. '|' .. bt)
  redis.call('PEXPIRE', k, fmt(reach / 1000))
  if not string.find(U.mf, ' ' .. from .. ' ', 1, true) then
    U.mf = U.mf .. from .. ' '
    local list = split(string.gsub(U.mf, ' ', '|'))
    if #list > maxMovesKept then
      redis.call('HDEL', prefix .. 'mv:' .. list[1], U.member)
      U.mf = string.sub(U.mf, #list[1] + 2)
    end
  end
end

-- facts are what the user's history says just before an event.
local function facts(U, action, t, tstr, ip, slot, shash, name, isForeign)
  flushUser(U)
  local known = name ~= '' and action == REUSE and redis.call('ZSCORE', U.reuses, name) ~= false
  local firstSeen = ''
  if redis.call('EXISTS', U.refreshes, U.ips, U.reuses) > 0 then firstSeen = U.firstS end
  local prev, prevTime = prevRefresh(U, t, tstr)
  if not prev or t - tonumber(prevTime) > refreshTTL then prev, prevTime = '', '' end
  local gone = redis.call('ZREMRANGEBYSCORE', U.ips, '-inf', '(' .. fmt(t - ipTTL))
  ev[4] = ev[4] + gone
  if gone > 0 then U.given = bit.band(U.given, bit.bnot(IPS)) end -- it may be empty, so gone
  local r10 = redis.call('ZCOUNT', U.reuses, fmt(t - 600000000), tstr)
  local r1h = redis.call('ZCOUNT', U.reuses, fmt(t - 3600000000), tstr)
  local f1h = redis.call('ZCOUNT', U.foreign, fmt(t - 3600000000), tstr)
  if action == REUSE and not known then
    r10, r1h = r10 + 1, r1h + 1
    if isForeign then f1h = f1h + 1 end
  end
  local sess = {}
  if slot ~= '' then sess = sessionAddrs(slot, shash) end
  return {prev, prevTime, firstSeen, r10, r1h, redis.call('ZREVRANGE', U.ips, 0, -1),
    redis.call('ZREVRANGE', U.countries, 0, -1), redis.call('ZREVRANGE', U.asns, 0, -1), sess, f1h}
end

-- learnSession adds ip to its session's addresses, reading the slot's
-- "hash|ip|ip…" as a string: most events find their address there.
local function learnSession(slot, shash, ip)
  local v = slotValues[slot]
  local head = shash .. '|'
  if v == head .. ip then return end
  if v and string.sub(v, 1, #head) == head then
    if string.find(v .. '|', '|' .. ip .. '|', #shash + 1, true) then return end
    local _, count = string.gsub(v, '|', '|')
    if count >= sessionCap then
      ev[6] = ev[6] + 1
      return
    end
    v = v .. '|' .. ip
  else
    if v then ev[5] = ev[5] + 1 end
    v = head .. ip
  end
  if not slotsWritten[slot] then
    slotsWritten[slot] = true
    slotsWritten[#slotsWritten + 1] = slot
  end
  slotValues[slot] = v
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

  expireUsers(t)
  local U = loadUser(member)
  if not U.first then
    makeRoom(member)
    U.first, U.firstS, U.last, U.lastS, U.seq, U.new = t, tstr, t, tstr, 0, true
  end
  if now - U.renewed > slack then U.renewed, U.renewedS, U.given, U.givenWas = now, nowS, 0, -1 end

  -- Refreshes and reuses are named, and sort by time then name, by the
  -- event's place in its log (offset zero-padded, the record's digest, then
  -- source) when there is one, which also makes learning an event twice (a
  -- restarted watcher re-reading lines whose effect Redis kept) a no-op;
  -- else by this user's sequence number.
  -- The sequence number counts only the events that use it.
  local name = ref
  if name == '' then
    U.seq = U.seq + 1
    name = string.format('~%012d', U.seq)
  end

  -- A reuse is foreign when the refresh that rotated its token (the latest
  -- at or before it, within the refresh TTL) came from another client.
  local isForeign = false
  if action == REUSE then
    local rot, rt = prevRefresh(U, t, tstr)
    if rot and t - tonumber(rt) <= refreshTTL then
      local f = fields(rot)
      local reuseAttr = string.match(client, '^|([^|]*)') or ''
      isForeign = f[2] ~= ip and clientKnown(f[4] or '') and clientKnown(reuseAttr)
    end
  end

  local out = 0
  if need then out = facts(U, action, t, tstr, ip, slot, shash, ref, isForeign) end

  -- learning, gathered for the end of the call where it can wait
  if (action == REFRESH or action == LOGIN) then
    if ip ~= '' then
      if not U.ipOrder then U.ipOrder, U.newIPs = {}, {} end
      local seen = U.newIPs[ip]
      if not seen then
        U.ipOrder[#U.ipOrder + 1] = ip
        U.newIPs[ip] = tstr
      elseif t > tonumber(seen) then
        U.newIPs[ip] = tstr
      end
    end
    if country ~= '' or asn ~= '0' then
      if name == ref then U.seq = U.seq + 1 end
      local seqS = fmt(U.seq)
      if country ~= '' then
        local c = U.newCountries or {}
        U.newCountries = c
        c[#c + 1] = seqS
        c[#c + 1] = country
      end
      if asn ~= '0' then
        local a = U.newASNs or {}
        U.newASNs = a
        a[#a + 1] = seqS
        a[#a + 1] = asn
      end
    end
  end
  if action == REFRESH then
    if ip ~= '' then moved(U, ip, t, tstr) end
    learnRefresh(U, t, tstr, name .. '|' .. ip .. '|' .. session .. client)
  elseif action == REUSE then
    redis.call('ZADD', U.reuses, tstr, name)
    redis.call('ZREMRANGEBYRANK', U.reuses, 0, keepReuses)
    expire(U, U.reuses, REUSES, keepDay)
    if isForeign then
      redis.call('ZADD', U.foreign, tstr, name)
      redis.call('ZREMRANGEBYRANK', U.foreign, 0, keepReuses)
      expire(U, U.foreign, FOREIGN, keepDay)
    end
  end
  if t < U.first then U.first, U.firstS, U.firstDirty = t, tstr, true end
  if t > U.last then U.last, U.lastS, U.lastDirty = t, tstr, true end
  U.unsynced = U.unsynced or U.lastDirty or U.new
  oldest = math.min(oldest, U.last)

  if action ~= REFRESH and action ~= LOGIN and action ~= REUSE then return out end
  -- The session table: what addresses a session id was seen with.
  if slot ~= '' and ip ~= '' then learnSession(slot, shash, ip) end
  return out
end

local out = {}
for i = 0, n - 1 do out[i + 1] = apply(FIRST + i * FIELDS) end
for _, U in ipairs(order) do
  if not U.dropped then
    flushUser(U)
    -- meta last, as it records which keys have their expiration.
    local metaDue = bit.band(U.given, META) == 0
    U.given = bit.bor(U.given, META)
    local args, k = {U.meta, 'last', U.lastS}, 3
    if U.firstDirty or U.new then args[k + 1], args[k + 2], k = 'first', U.firstS, k + 2 end
    if U.seq ~= U.seqWas then args[k + 1], args[k + 2], k = 'seq', fmt(U.seq), k + 2 end
    if U.given ~= U.givenWas then args[k + 1], args[k + 2], args[k + 3], args[k + 4], k = 'x', U.renewedS, 'k', bitsS[U.given], k + 4 end
    if U.lt and (U.lt ~= U.ltWas or U.new) then args[k + 1], args[k + 2], k = 'lt', U.lt, k + 2 end
    if U.lr and U.lr ~= U.lrWas then args[k + 1], args[k + 2], k = 'lr', U.lr, k + 2 end
    if U.mf ~= U.mfWas then args[k + 1], args[k + 2], k = 'mf', U.mf, k + 2 end
    redis.call('HSET', unpack(args, 1, k))
    if metaDue then redis.call('PEXPIRE', U.meta, keep) end
  end
end
syncUsers()
if #slotsWritten > 0 then
  local args = {}
  for _, slot in ipairs(slotsWritten) do
    args[#args + 1] = slot
    args[#args + 1] = slotValues[slot]
  end
  redis.call('HSET', sessions, unpack(args))
end
return {out, ev}
