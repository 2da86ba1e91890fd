-- Apply observations to users' histories in Redis, atomically and in order:
-- for each, the facts as they stood before it (when asked), then what it
-- teaches. The memory store's semantics, its direct-mapped session table
-- included; see redis.go for the key layout. Several observations go in
-- one call.
--
-- Most events never come here: a refresh or login that no rule judges is
-- learned with plain commands the watcher pipelines (redis_plain.go), which
-- cost Redis a fraction of a script's work. The script is for the events
-- whose facts are asked, reuses, and what has no name. Everything it writes
-- is written as the plain commands write it, so the two agree on every key.
-- The users set is what the plain commands cannot keep as the memory store
-- does (a user unseen past the address TTL or the least recently seen past
-- MaxUsers loses its history when another event is logged, not at the end
-- of a round trip), so a plain group's writes are preceded by a call of
-- this script that ends with the group's gate (below; after the call's own
-- events, which were logged before the group's): it expires and evicts as
-- the group's events, one by one, would have, before their writes, and
-- leaves in the cut hash what the writes must lose afterwards, which the
-- next call (any) applies first.
--
-- ARGV: prefix, refresh TTL, address TTL (µs), the caps (users, addresses,
-- refreshes, reuses, places, session addresses, the moves index),
-- the clock (µs, for n = 0: the caps are kept at it), n, the cut hash's
-- key, the gate's touches ("i first last ...": runs of a group's user's
-- events, the user by its index below, in log order), the gate mark's key,
-- the birth mark to make (the watcher's clock, µs) when there is none,
-- the count of the gate's group's sessions, the users of the plain group
-- this call follows (one string: each "<length>:<member>"), the count of
-- that group's moves, those moves (time, "address|user" pairs), the gate's
-- group's sessions ((slot, value) pairs, see learnGroupSessions), then n
-- observations
-- of 11 fields each (see apply below), then, for a gate, the earliest of
-- the group's users' first times and the latest of their last times, then
-- the users as (last, member) pairs, then as (first, member) pairs: what
-- the gate's ZADDs take as they come, with no table built (the users' count
-- is that of the pairs). Keys are built here from the prefix: the
-- script names other users' keys when it evicts, so Redis Cluster is out
-- of reach.
--
-- Times are microseconds since the epoch, passed and stored as decimal
-- strings: Lua's numbers are doubles (exact to 2^53), but Redis may turn a
-- Lua number into exponent notation, so every computed number sent back to
-- Redis goes through fmt.
local prefix = ARGV[1]
local refreshTTL, ipTTL = tonumber(ARGV[2]), tonumber(ARGV[3])
local maxUsers, maxIPs, maxRefreshes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local maxReuses, maxPlaces, sessionCap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local clock = ARGV[11]
local n = tonumber(ARGV[12])
local cutKey, touches, markKey = ARGV[13], ARGV[14], ARGV[15]
local newBorn = ARGV[16]
local gateSessions = tonumber(ARGV[17])
-- the plain group this call follows: its users (packed), then its moves
-- (time, pair)
local afterUsers, afterMoves = ARGV[18], tonumber(ARGV[19])
local AFTER = 19
local FIELDS, SESSIONS = 11, AFTER + 2 * afterMoves
local FIRST = SESSIONS + 2 * gateSessions
local users, firsts = prefix .. 'users', prefix .. 'first'
-- The session table (see sessionAddrs).
local sessionTable = prefix .. 'st'
-- drops counts the users any call ever dropped from the users set; a gate
-- leaves it in its owner's mark, so the call after the gate's group knows
-- whether another watcher dropped a user in between (dropOrphans).
local dropsKey, dropped = prefix .. 'drops', 0

local REFRESH, REUSE, LOGIN = 1, 2, 3
local function fmt(x) return string.format('%d', x) end
local maxMoves = tonumber(ARGV[10])
local keepRefreshRank, keepReuses = fmt(-(maxRefreshes + 1)), fmt(-(maxReuses + 1))
-- evictions: users, users expired, addresses, addresses expired, sessions,
-- session addresses, the moves index's pairs
local ev = {0, 0, 0, 0, 0, 0, 0}

-- touched and cuts are the gate's: the group's users whose touches it went
-- through, and what their writes, still to come, must lose ('drop': all).
local touched, cuts = {}, {}

-- zremAll removes members from key, a thousand at a time (unpack's limit).
local function zremAll(key, members)
  for i = 1, #members, 1000 do redis.call('ZREM', key, unpack(members, i, math.min(i + 999, #members))) end
end

local function dropKeys(m)
  local u = prefix .. 'u:' .. m
  redis.call('DEL', u .. ':m', u .. ':r', u .. ':i', u .. ':x', u .. ':y', u .. ':c', u .. ':a', u .. ':fi', u .. ':fc', u .. ':fa')
end

local function dropUser(m)
  dropped = dropped + 1
  redis.call('ZREM', users, m)
  redis.call('ZREM', firsts, m)
  dropKeys(m)
  if touched[m] then cuts[m] = 'drop' end
end

-- The first sights go with them, and so do those of what was seen both
-- before and since: what is left reads as seen before any event (as keys
-- older than the first sights do), where the memory store's history, begun
-- again at from, would have it first seen since.
local function dropBefore(m, from)
  local u, before = prefix .. 'u:' .. m, '(' .. from
  for _, k in ipairs({':r', ':i', ':c', ':a', ':fi', ':fc', ':fa'}) do redis.call('ZREMRANGEBYSCORE', u .. k, '-inf', before) end
end

-- applyCuts makes a gate's group's writes, now applied, lose what the
-- memory store would have dropped: all of a user evicted after its events,
-- or what came before the event that brought it back. Another watcher may
-- have logged the user since the gate (Redis interleaves round trips), and
-- its history is not the cut's to lose: a user evicted and back in the
-- users set loses only what came before its return (its first seen now),
-- and what came before the gate's return only while that return is still
-- its first seen.
local function applyCuts()
  if cutKey == '' then return end
  local c = redis.call('HGETALL', cutKey)
  if #c == 0 then return end
  for i = 1, #c, 2 do
    local m, from = c[i], c[i + 1]
    local first = redis.call('ZSCORE', firsts, m)
    if from == 'drop' then
      if not redis.call('ZSCORE', users, m) then dropKeys(m) elseif first then dropBefore(m, first) end
    elseif first and tonumber(first) == tonumber(from) then
      dropBefore(m, from)
    end
  end
  redis.call('DEL', cutKey)
end

-- unpackMembers reads "<length>:<member><kinds>..." (any bytes in a
-- member; kinds a digit, see trimSights), and returns the members and
-- their kinds.
local function unpackMembers(s)
  local out, kinds, pos = {}, {}, 1
  while pos <= #s do
    local colon = string.find(s, ':', pos, true)
    local len = tonumber(string.sub(s, pos, colon - 1))
    out[#out + 1] = string.sub(s, colon + 1, colon + len)
    kinds[#kinds + 1] = string.byte(s, colon + len + 1) - 48
    pos = colon + len + 2
  end
  return out, kinds
end

-- movedSince says whether the count at key moved since the gate's mark
-- kept it as mark; a missing mark (expired: a minute between a gate and the
-- call after its group) reads as moved.
local function movedSince(key, mark)
  return mark == nil or (redis.call('GET', key) or '0') ~= mark
end

-- eachMissing calls fn with each of members the sorted set set does not
-- hold, asking ZMSCORE a thousand at a time.
local function eachMissing(set, members, fn)
  for i = 1, #members, 1000 do
    local chunk = {unpack(members, i, math.min(i + 999, #members))}
    for j, score in ipairs(redis.call('ZMSCORE', set, unpack(chunk))) do
      if not score then fn(chunk[j]) end
    end
  end
end

-- dropOrphans drops the keys of the users of the plain group this call
-- follows that are no longer in the users set: another watcher's call
-- between the group's gate and its writes dropped them (evicted, expired),
-- and the writes recreated keys no trim would reach (trims go through the
-- set). When nothing was dropped since the gate (the count is the one its
-- mark kept) none can be missing, and the set is not read: a watcher
-- catching up alone never reads it.
local function dropOrphans()
  if afterUsers == '' then return end
  local mark = string.match(redis.call('GET', markKey) or '', '^(%d+)$')
  if movedSince(dropsKey, mark) then
    eachMissing(users, unpackMembers(afterUsers), dropKeys)
  end
end

-- trimSight keeps key, a user's sights by last time, at cap, the least
-- recently seen going, and its first sights (firsts) with the same
-- members; returns how many went.
local function trimSight(key, firsts, cap)
  local over = redis.call('ZCARD', key) - cap
  if over <= 0 then return 0 end
  local popped = redis.call('ZPOPMIN', key, fmt(over))
  local gone = {}
  for i = 1, #popped, 2 do gone[#gone + 1] = popped[i] end
  zremAll(firsts, gone)
  return over
end

-- trimSights keeps the caps of the sights the plain group this call
-- follows wrote: its users' addresses (kinds 1), countries (2) and
-- networks (4). The group cannot: a trim by rank does not say what it
-- removed, which the first sights must lose too (or an address evicted and
-- seen again would keep its first sight from before), and the group's
-- writes cannot branch on the count.
local function trimSights()
  if afterUsers == '' then return end
  local members, kinds = unpackMembers(afterUsers)
  for i, m in ipairs(members) do
    local k = kinds[i]
    if k > 0 then
      local u = prefix .. 'u:' .. m
      if k % 2 == 1 then ev[3] = ev[3] + trimSight(u .. ':i', u .. ':fi', maxIPs) end
      if k % 4 >= 2 then trimSight(u .. ':c', u .. ':fc', maxPlaces) end
      if k >= 4 then trimSight(u .. ':a', u .. ':fa', maxPlaces) end
    end
  end
end

-- addMoves writes the group's moves to the index and its by-address view
-- in this call, so that the trim at its end (trimMoves) keeps both in step:
-- written by the group's pipeline, another watcher's trim could land
-- between the two and leave in rx a pair ra no longer has. Every call
-- keeps rx holding ra's pairs, so pairs ra had already are in rx: rx is
-- written only when ra gained a pair (most refreshes come from an address
-- their user was seen at).
local function addMoves()
  if afterMoves == 0 then return end
  for i = 0, afterMoves - 1, 500 do
    -- the (time, pair) arguments of moves i to last, as ZADD takes them
    local from, to = AFTER + 2 * i + 1, AFTER + 2 * math.min(i + 499, afterMoves - 1) + 2
    if redis.call('ZADD', prefix .. 'ra', 'GT', unpack(ARGV, from, to)) > 0 then
      local byAddr = {}
      for j = from + 1, to, 2 do byAddr[#byAddr + 1], byAddr[#byAddr + 2] = '0', ARGV[j] end
      redis.call('ZADD', prefix .. 'rx', unpack(byAddr))
    end
  end
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

-- oldest is the last-seen time of the least recently seen user, so that
-- looking for users to expire costs nothing until one may have expired.
local function oldestSeen()
  local o = redis.call('ZRANGE', users, 0, 0, 'WITHSCORES')
  if o[2] then return tonumber(o[2]) end
  return math.huge
end
local oldest = oldestSeen()

-- expireUsers drops users unseen for longer than the address TTL at t: they
-- have no facts left. The work per call is bounded; the oldest go first,
-- as in the memory store.
local function expireUsers(t)
  if t - ipTTL <= oldest then return end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', users, '-inf', '(' .. fmt(t - ipTTL), 'LIMIT', 0, 16)) do
    dropUser(m)
    ev[2] = ev[2] + 1
  end
  oldest = oldestSeen()
end

-- trimUsers evicts the least recently seen users over the cap, never
-- member (the user being learned; false for none).
local function trimUsers(member, room)
  local over = redis.call('ZCARD', users) - maxUsers + room
  if over <= 0 then return end
  for _, m in ipairs(redis.call('ZRANGE', users, 0, fmt(over))) do
    if over > 0 and m ~= member then
      dropUser(m)
      ev[1] = ev[1] + 1
      over = over - 1
    end
  end
  oldest = oldestSeen()
end

-- dropOldSessions drains the session keys of the layout before the
-- session table (an index, "sessions", and a sorted set "s:<hash>" per
-- session), a thousand a call, so that an upgraded Redis does not keep
-- them for good: they carried no expirations. A watcher of that version
-- still running keeps writing them; they are drained once it is gone.
local function dropOldSessions()
  local index = prefix .. 'sessions'
  -- TYPE answers a status ({ok = 'zset'}); a key of another type there is
  -- not that layout's, and is left alone
  if redis.call('TYPE', index).ok ~= 'zset' then return end
  local old = redis.call('ZRANGE', index, 0, 999)
  for i, h in ipairs(old) do old[i] = prefix .. 's:' .. h end
  if #old > 0 then redis.call('DEL', unpack(old)) end
  redis.call('ZREMRANGEBYRANK', index, 0, 999)
  if redis.call('EXISTS', index) == 0 then redis.call('DEL', prefix .. 'sdrops') end
end

-- loadUser returns what the script keeps of a user: its keys' names, its
-- first and last seen times (nil for a new user) and its sequence number.
local function loadUser(member)
  local u = prefix .. 'u:' .. member
  local U = {member = member, meta = u .. ':m', refreshes = u .. ':r', ips = u .. ':i', reuses = u .. ':x',
    foreign = u .. ':y', countries = u .. ':c', asns = u .. ':a',
    firstIPs = u .. ':fi', firstCountries = u .. ':fc', firstASNs = u .. ':fa'}
  U.lastS = redis.call('ZSCORE', users, member)
  U.firstS = redis.call('ZSCORE', firsts, member)
  return U
end

-- prevRefresh returns the user's latest refresh at or before t (member, time).
local function prevRefresh(U, tstr)
  local r = redis.call('ZREVRANGEBYSCORE', U.refreshes, tstr, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return r[1], r[2]
end

-- The session table is the memory store's, as a hash: a field per slot
-- (the session id's hash modulo the table's size, a power of two the
-- watcher computes), its value the hash and the first sessionCap addresses
-- seen with it, "<hash> <address> ...". A session takes its slot from the
-- one there: the table's size bounds it, with no index to keep and no key
-- to make, trim or delete per session (kubectl's fresh id every request
-- made those a third of Redis's work). sref is "<slot>:<hash>", '' for no
-- session.

-- sessionOf reads a slot's value: its hash, then its addresses.
local function sessionOf(v)
  if not v then return nil, {} end
  local out, h = {}, nil
  for w in string.gmatch(v, '%S+') do
    if h then out[#out + 1] = w else h = w end
  end
  return h, out
end

local function sessionAddrs(sref)
  if sref == '' then return {} end
  local slot, h = string.match(sref, '^(%d+):(%d+)$')
  local held, addrs = sessionOf(redis.call('HGET', sessionTable, slot))
  if held ~= h then return {} end
  return addrs
end

-- mergeSession returns the slot's value with the addresses in ips (a list)
-- added, as the memory store adds them: another session there is evicted,
-- an address past the first sessionCap is counted and not kept. nil when
-- nothing changed.
local function mergeSession(cur, h, ips)
  local held, addrs = sessionOf(cur)
  local changed = held ~= h
  if changed then
    if held then ev[5] = ev[5] + 1 end
    addrs = {}
  end
  for _, ip in ipairs(ips) do
    local known = false
    for _, a in ipairs(addrs) do
      if a == ip then known = true break end
    end
    if not known then
      if #addrs < sessionCap then
        addrs[#addrs + 1], changed = ip, true
      else
        ev[6] = ev[6] + 1
      end
    end
  end
  if not changed then return nil end
  return h .. ' ' .. table.concat(addrs, ' ')
end

-- learnGroupSessions learns the sessions of the gate's group, whose events
-- follow this call's, that the watcher's local store knew (the others the
-- group writes with one HSET, see redis_plain.go): (slot, "<hash>
-- <address> ...") pairs, a session's addresses in order of first sight, no
-- more than the table keeps; its sights of others, repeats included, follow
-- in a second pair, merged into the slot the first filled, so each is
-- counted over the cap as the memory store counts it. Each is
-- merged into what its slot holds, another watcher's addresses of it
-- included (mergeSession); a slot another session took meanwhile is taken
-- back. One HSET writes the slots that changed.
local function learnGroupSessions()
  for i = 0, gateSessions - 1, 500 do
    local from, to = SESSIONS + 2 * i + 1, SESSIONS + 2 * math.min(i + 499, gateSessions - 1) + 2
    local slots = {}
    for p = from, to, 2 do slots[#slots + 1] = ARGV[p] end
    local cur = redis.call('HMGET', sessionTable, unpack(slots))
    -- held: the slots' values as this call leaves them, a slot that
    -- comes twice merging into the first's; only those are written
    local held, set = {}, {}
    for k, slot in ipairs(slots) do
      local v, was = ARGV[from + 2 * k - 1], held[slot] or cur[k]
      if was then
        local sp = string.find(v, ' ', 1, true)
        if string.sub(was, 1, sp) == string.sub(v, 1, sp) then
          local h, ips = sessionOf(v)
          v = mergeSession(was, h, ips) -- nil: nothing new
        else
          ev[5] = ev[5] + 1
        end
      end
      if v then held[slot] = v end
    end
    for slot, v in pairs(held) do set[#set + 1], set[#set + 2] = slot, v end
    if #set > 0 then redis.call('HSET', sessionTable, unpack(set)) end
  end
end

-- seenBy lists key's members, most recently seen first, but those first
-- seen after tstr by firsts: watchers sharing the history learn out of log
-- order, and a replay judged after another watcher wrote its thief's next
-- refresh must not find the thief's address, country or network known. A
-- member with no first sight (written before first sights were kept, or by
-- a watcher of that version) counts as seen before.
local function seenBy(key, firsts, t, tstr)
  local all = redis.call('ZREVRANGE', key, 0, -1, 'WITHSCORES')
  local out = {}
  -- none seen after t (events learned in order): none first seen after it,
  -- and firsts is not read
  if #all == 0 or tonumber(all[2]) <= t then
    for i = 1, #all, 2 do out[#out + 1] = all[i] end
    return out
  end
  local skip = {}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', firsts, '(' .. tstr, '+inf')) do skip[m] = true end
  for i = 1, #all, 2 do
    if not skip[all[i]] then out[#out + 1] = all[i] end
  end
  return out
end

-- forget removes members from a user's key and its first sights.
local function forget(key, firsts, members)
  zremAll(key, members)
  zremAll(firsts, members)
end

-- facts are what the user's history says just before an event.
local function facts(U, action, t, tstr, sref, name, isForeign)
  local known = name ~= '' and action == REUSE and redis.call('ZSCORE', U.reuses, name) ~= false
  local firstSeen = ''
  if U.firstS and redis.call('EXISTS', U.refreshes, U.ips, U.reuses) > 0 then firstSeen = U.firstS end
  local prev, prevTime = prevRefresh(U, tstr)
  if not prev or t - tonumber(prevTime) > refreshTTL then prev, prevTime = '', '' end
  local gone = redis.call('ZRANGEBYSCORE', U.ips, '-inf', '(' .. fmt(t - ipTTL))
  if #gone > 0 then forget(U.ips, U.firstIPs, gone) end
  ev[4] = ev[4] + #gone
  local r10 = redis.call('ZCOUNT', U.reuses, fmt(t - 600000000), tstr)
  local r1h = redis.call('ZCOUNT', U.reuses, fmt(t - 3600000000), tstr)
  local f1h = redis.call('ZCOUNT', U.foreign, fmt(t - 3600000000), tstr)
  if action == REUSE and not known then
    r10, r1h = r10 + 1, r1h + 1
    if isForeign then f1h = f1h + 1 end
  end
  return {prev, prevTime, firstSeen, r10, r1h, seenBy(U.ips, U.firstIPs, t, tstr),
    seenBy(U.countries, U.firstCountries, t, tstr), seenBy(U.asns, U.firstASNs, t, tstr), sessionAddrs(sref), f1h}
end

-- place learns a country or a network: its last sight in key, its first
-- in firsts, which loses what key does.
local function place(key, firsts, tstr, value)
  redis.call('ZADD', key, 'GT', tstr, value)
  redis.call('ZADD', firsts, 'LT', tstr, value)
  trimSight(key, firsts, maxPlaces)
end

-- learnSession adds ip to its session's addresses (mergeSession).
local function learnSession(sref, ip)
  local slot, h = string.match(sref, '^(%d+):(%d+)$')
  local v = mergeSession(redis.call('HGET', sessionTable, slot), h, {ip})
  if v then redis.call('HSET', sessionTable, slot, v) end
end

local function apply(base)
  local action, tstr = tonumber(ARGV[base + 1]), ARGV[base + 2]
  local t = tonumber(tstr)
  local ip, sref = ARGV[base + 3], ARGV[base + 4]
  local need = ARGV[base + 5] == '1'
  local country, asn = ARGV[base + 6], ARGV[base + 7]
  local member, session, ref = ARGV[base + 8], ARGV[base + 9], ARGV[base + 10]
  -- '|attribution|peer|agent' of a refresh whose client attribution found, else ''.
  local client = ARGV[base + 11]

  expireUsers(t)
  local U = loadUser(member)
  if not U.lastS then trimUsers(member, 1) end

  -- Refreshes and reuses are named, and sort by time then name, by the
  -- event's place in its log (offset zero-padded, the record's digest, then
  -- source) when there is one, which also makes learning an event twice (a
  -- restarted watcher re-reading lines whose effect Redis kept) a no-op;
  -- else by this user's sequence number, kept in meta.
  local name = ref
  if name == '' then
    local seq = redis.call('HINCRBY', U.meta, 'seq', 1)
    name = string.format('~%012d', seq)
  end

  -- A reuse is foreign when the refresh that rotated its token (the latest
  -- at or before it, within the refresh TTL) came from another client.
  local isForeign = false
  if action == REUSE then
    local rot, rt = prevRefresh(U, tstr)
    if rot and t - tonumber(rt) <= refreshTTL then
      local f = fields(rot)
      local reuseAttr = string.match(client, '^|([^|]*)') or ''
      isForeign = f[2] ~= ip and clientKnown(f[4] or '') and clientKnown(reuseAttr)
    end
  end

  local out = 0
  if need then out = facts(U, action, t, tstr, sref, ref, isForeign) end

  if action == REFRESH or action == LOGIN then
    if ip ~= '' then
      redis.call('ZADD', U.firstIPs, 'LT', tstr, ip)
      if redis.call('ZADD', U.ips, 'GT', tstr, ip) > 0 then ev[3] = ev[3] + trimSight(U.ips, U.firstIPs, maxIPs) end
    end
    if country ~= '' then place(U.countries, U.firstCountries, tstr, country) end
    if asn ~= '0' then place(U.asns, U.firstASNs, tstr, asn) end
  end
  if action == REFRESH then
    redis.call('ZADD', U.refreshes, tstr, name .. '|' .. ip .. '|' .. session .. client)
    redis.call('ZREMRANGEBYRANK', U.refreshes, 0, keepRefreshRank)
    if ip ~= '' and redis.call('ZADD', prefix .. 'ra', 'GT', tstr, ip .. '|' .. member) > 0 then
      redis.call('ZADD', prefix .. 'rx', 0, ip .. '|' .. member)
    end
  elseif action == REUSE then
    redis.call('ZADD', U.reuses, tstr, name)
    redis.call('ZREMRANGEBYRANK', U.reuses, 0, keepReuses)
    if isForeign then
      redis.call('ZADD', U.foreign, tstr, name)
      redis.call('ZREMRANGEBYRANK', U.foreign, 0, keepReuses)
    end
  end
  redis.call('ZADD', users, 'GT', tstr, member)
  redis.call('ZADD', firsts, 'LT', tstr, member)
  oldest = math.min(oldest, t)

  if action ~= REFRESH and action ~= LOGIN and action ~= REUSE then return out end
  -- The session table: what addresses a session id was seen with.
  if sref ~= '' and ip ~= '' then
    learnSession(sref, ip)
  end
  return out
end

-- gate goes through a plain group's touches before its writes, as the
-- memory store goes through its events: each expires the users unseen past
-- the address TTL and, when new, evicts the least recently seen past
-- MaxUsers. When neither can happen (room for every user of the group, no
-- user old enough) it only writes the group's last and first seen times,
-- two commands. A user of the group dropped after its touches loses the
-- group's writes ('drop'), one brought back loses those before its return.
local function gate()
  local base = FIRST + n * FIELDS
  local k = (#ARGV - base - 2) / 4
  if k <= 0 then return end
  local earliest, latest = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  -- user j's (last, member) at lasts + 2j - 1, lasts + 2j; (first, member) likewise from firstsAt
  local lasts, firstsAt = base + 2, base + 2 + 2 * k
  local members
  local function allMembers()
    if not members then
      members = {}
      for j = 1, k do members[j] = ARGV[lasts + 2 * j] end
    end
    return members
  end
  expireUsers(earliest)
  local card = redis.call('ZCARD', users)
  local fresh = card - maxUsers
  -- Room for all of them, were every one new: which are is not asked.
  if card + k > maxUsers then
    eachMissing(users, allMembers(), function() fresh = fresh + 1 end)
  end
  local roomy = fresh <= 0
  if roomy and latest - ipTTL <= oldest and latest - earliest <= ipTTL then
    for i = 1, k, 1000 do
      local j = math.min(i + 999, k)
      redis.call('ZADD', users, 'GT', unpack(ARGV, lasts + 2 * i - 1, lasts + 2 * j))
      redis.call('ZADD', firsts, 'LT', unpack(ARGV, firstsAt + 2 * i - 1, firstsAt + 2 * j))
    end
    oldest = math.min(oldest, earliest)
    return
  end
  members = allMembers()
  for idx, ts, te in string.gmatch(touches, '(%d+) (%d+) (%d+)') do
    local m, t = members[tonumber(idx)], tonumber(ts)
    expireUsers(t)
    if not redis.call('ZSCORE', users, m) then
      trimUsers(m, 1)
      if touched[m] then cuts[m] = ts end
      redis.call('ZADD', firsts, ts, m)
    end
    touched[m] = true
    redis.call('ZADD', users, 'GT', ts, m)
    oldest = math.min(oldest, t)
    if te ~= ts then
      -- the run's other events: the user is fresh, others may expire
      expireUsers(tonumber(te))
      redis.call('ZADD', users, 'GT', te, m)
    end
  end
  local cut = false
  for m, from in pairs(cuts) do
    redis.call('HSET', cutKey, m, from)
    cut = true
  end
  -- Owner ids outlive a watcher's restarts: a cut its dead round trip left
  -- must not fire at the owner's next call, hours later.
  if cut then redis.call('PEXPIRE', cutKey, 60000) end
end

-- trimMoves keeps the moves index (ra: pair → time) at its cap, the most
-- recent pairs, and its by-address view (rx: the same pairs, lexicographic,
-- which a refusal reads) in step. Every call ends with it, after the
-- plain group's pairs it was sent (addMoves).
local function trimMoves()
  local ra, rx = prefix .. 'ra', prefix .. 'rx'
  local kept = redis.call('ZCARD', ra)
  local over = kept - maxMoves
  if over > 0 then
    local gone = redis.call('ZPOPMIN', ra, fmt(over))
    local popped = {}
    for i = 1, #gone, 2 do popped[#popped + 1] = gone[i] end
    for i = 1, #popped, 1000 do redis.call('ZREM', rx, unpack(popped, i, math.min(i + 999, #popped))) end
    ev[7] = ev[7] + #popped
    kept = kept - #popped
  end
  -- rx is written only when ra gains a pair (addMoves), so a pair rx lost
  -- (its key evicted by a maxmemory policy, restored from a backup, deleted
  -- by hand) would never come back while its user keeps refreshing from
  -- the address: rebuilt from ra when the two disagree, which they never
  -- do otherwise.
  if redis.call('ZCARD', rx) ~= kept then
    redis.call('DEL', rx)
    local all = redis.call('ZRANGE', ra, 0, -1)
    for i = 1, #all, 500 do
      local byAddr = {}
      for j = i, math.min(i + 499, #all) do byAddr[#byAddr + 1], byAddr[#byAddr + 2] = '0', all[j] end
      redis.call('ZADD', rx, unpack(byAddr))
    end
  end
end

applyCuts()
dropOrphans()
trimSights()
addMoves()
local out = {}
for i = 0, n - 1 do out[i + 1] = apply(FIRST + i * FIELDS) end
if touches ~= '' then gate() end
learnGroupSessions()
if n == 0 and clock ~= '' then
  expireUsers(tonumber(clock))
  trimUsers(false, 0)
  dropOldSessions()
end
trimMoves()
if dropped > 0 then redis.call('INCRBY', dropsKey, dropped) end
if touches ~= '' then
  redis.call('SET', markKey, redis.call('GET', dropsKey) or '0', 'PX', 60000)
end
-- The history's birth mark, returned with every reply: a watcher that sees
-- it change knows the history it shared is gone (FLUSHDB, a Redis restarted
-- without persistence, the key evicted), which nothing else tells. Made
-- here when missing, from the watcher's clock as Check makes it: not from
-- Redis's TIME, which an ACL of the read, write and scripting commands
-- refuses (it is @fast only), failing the first call after every loss.
-- One of another type (set by hand) is replaced.
local bornKey = prefix .. 'born'
local born = redis.pcall('GET', bornKey)
if type(born) ~= 'string' then
  if born then redis.call('DEL', bornKey) end
  born = newBorn
  redis.call('SET', bornKey, born)
end
return {out, ev, born}
