-- Apply one observation to a user's history in Redis, atomically: return the
-- facts as they stood before it (when asked), then learn from it. The same
-- semantics as correlate.Memory; see redis.go for the key layout.
--
-- Times are microseconds since the epoch, passed and stored as decimal
-- strings: Lua's numbers are doubles (exact to 2^53, far beyond any
-- microsecond date), but Redis may turn a Lua number argument into
-- exponent notation, which PEXPIRE rejects, so every computed number sent
-- back to Redis goes through fmt.
local users, sessions, meta, refreshes, ips, reuses, countries, asns =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local action = tonumber(ARGV[1])
local tstr = ARGV[2]
local t = tonumber(tstr)
local ip, slot, shash = ARGV[3], ARGV[4], ARGV[5]
local need = ARGV[6] == '1'
local country, asn = ARGV[7], ARGV[8]
local member, prefix = ARGV[9], ARGV[10]
local refreshTTL, ipTTL = tonumber(ARGV[11]), tonumber(ARGV[12])
local maxUsers, maxIPs, maxRefreshes = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local maxReuses, maxPlaces, sessionCap = tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
local session, ref = ARGV[19], ARGV[20]

local REFRESH, REUSE, LOGIN = 1, 2, 3
local function fmt(x) return string.format('%d', x) end
-- A user's history lives as long as an address stays known: Redis forgets
-- what the caps and the log-time checks have not already dropped. Each key's
-- expiration is renewed when it is written. Refreshes and reuses are judged
-- by log time, and a watcher may be a day behind (down, or catching up), so
-- their wall-clock expiration is never shorter than a day. The users set and
-- the session table are bounded by the caps instead.
local keep = fmt(math.ceil(ipTTL / 1000))
local day = 86400000
local keepRefreshes = fmt(math.max(day, math.ceil(refreshTTL / 1000)))
-- evictions: users, users expired, addresses, addresses expired, sessions, session addresses
local ev = {0, 0, 0, 0, 0, 0}
local userKeys = {':m', ':r', ':i', ':x', ':c', ':a'}

local function dropUser(m)
  redis.call('ZREM', users, m)
  for _, suffix in ipairs(userKeys) do redis.call('DEL', prefix .. m .. suffix) end
end

-- Users unseen for longer than the address TTL have no facts left. The work
-- per call is bounded; the oldest go first, as in the memory store.
for _, m in ipairs(redis.call('ZRANGEBYSCORE', users, '-inf', '(' .. fmt(t - ipTTL), 'LIMIT', 0, 16)) do
  dropUser(m)
  ev[2] = ev[2] + 1
end

local m = redis.call('HMGET', meta, 'first', 'last', 'seq')
local first, last, seq = tonumber(m[1]), tonumber(m[2]), tonumber(m[3])
if not first then
  if redis.call('ZSCORE', users, member) == false then
    -- Room for one more, never evicting this user (a lowered cap shrinks
    -- the set here too).
    local over = redis.call('ZCARD', users) - maxUsers + 1
    if over > 0 then
      for _, m in ipairs(redis.call('ZRANGE', users, 0, fmt(over))) do
        if over > 0 and m ~= member then
          dropUser(m)
          ev[1] = ev[1] + 1
          over = over - 1
        end
      end
    end
  end
  first, last, seq = t, t, 0
end

-- Refreshes and reuses are named, and sort by time then name, by the
-- event's place in its log (offset zero-padded, then source) when there is
-- one, which also makes learning an event twice (a restarted watcher
-- re-reading lines whose effect Redis kept) a no-op; else by this user's
-- sequence number.
local name = ref
if name == '' then name = string.format('~%012d', seq + 1) end
local known = ref ~= '' and action == REUSE and redis.call('ZSCORE', reuses, name) ~= false

local function split(s)
  local out = {}
  for part in string.gmatch(s, '[^|]+') do out[#out + 1] = part end
  return out
end

-- sessionAddrs returns the addresses of the session in its slot, and whether
-- the slot holds another session.
local function sessionAddrs()
  local v = redis.call('HGET', sessions, slot)
  if not v then return {}, false end
  local parts = split(v)
  if parts[1] ~= shash then return {}, true end
  table.remove(parts, 1)
  return parts, false
end

local facts = false
if need then
  local firstSeen = ''
  if redis.call('EXISTS', refreshes, ips, reuses) > 0 then firstSeen = fmt(first) end
  local prev, prevTime = '', ''
  local newest = redis.call('ZREVRANGEBYSCORE', refreshes, tstr, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if newest[1] and t - tonumber(newest[2]) <= refreshTTL then prev, prevTime = newest[1], newest[2] end
  ev[4] = ev[4] + redis.call('ZREMRANGEBYSCORE', ips, '-inf', '(' .. fmt(t - ipTTL))
  local r10 = redis.call('ZCOUNT', reuses, fmt(t - 600000000), tstr)
  local r1h = redis.call('ZCOUNT', reuses, fmt(t - 3600000000), tstr)
  if action == REUSE and not known then
    r10, r1h = r10 + 1, r1h + 1
  end
  local sess = {}
  if slot ~= '' then sess = sessionAddrs() end
  facts = {prev, prevTime, firstSeen, r10, r1h, redis.call('ZREVRANGE', ips, 0, -1),
    redis.call('ZREVRANGE', countries, 0, -1), redis.call('ZREVRANGE', asns, 0, -1), sess}
end

-- learning
seq = seq + 1
redis.call('HSET', meta, 'first', fmt(math.min(first, t)), 'last', fmt(math.max(last, t)), 'seq', fmt(seq))
redis.call('PEXPIRE', meta, keep)
redis.call('ZADD', users, 'GT', tstr, member)

local function learnIP()
  if ip == '' then return end
  if redis.call('ZADD', ips, 'GT', tstr, ip) == 1 then
    local over = redis.call('ZCARD', ips) - maxIPs
    if over > 0 then
      redis.call('ZPOPMIN', ips, fmt(over))
      ev[3] = ev[3] + over
    end
  end
  redis.call('PEXPIRE', ips, keep)
end

local function learnPlace()
  if country ~= '' then
    redis.call('ZADD', countries, fmt(seq), country)
    redis.call('ZREMRANGEBYRANK', countries, 0, fmt(-(maxPlaces + 1)))
    redis.call('PEXPIRE', countries, keep)
  end
  if asn ~= '0' then
    redis.call('ZADD', asns, fmt(seq), asn)
    redis.call('ZREMRANGEBYRANK', asns, 0, fmt(-(maxPlaces + 1)))
    redis.call('PEXPIRE', asns, keep)
  end
end

local function learnSession()
  if slot == '' or ip == '' then return end
  local addrs, other = sessionAddrs()
  if other then ev[5] = ev[5] + 1 end
  for _, a in ipairs(addrs) do
    if a == ip then return end
  end
  if #addrs >= sessionCap then
    ev[6] = ev[6] + 1
    return
  end
  addrs[#addrs + 1] = ip
  redis.call('HSET', sessions, slot, shash .. '|' .. table.concat(addrs, '|'))
end

if action == REFRESH then
  redis.call('ZADD', refreshes, tstr, name .. '|' .. ip .. '|' .. session)
  redis.call('ZREMRANGEBYRANK', refreshes, 0, fmt(-(maxRefreshes + 1)))
  redis.call('PEXPIRE', refreshes, keepRefreshes)
  learnIP()
  learnPlace()
  learnSession()
elseif action == LOGIN then
  learnIP()
  learnPlace()
  learnSession()
elseif action == REUSE then
  redis.call('ZADD', reuses, tstr, name)
  redis.call('ZREMRANGEBYRANK', reuses, 0, fmt(-(maxReuses + 1)))
  redis.call('PEXPIRE', reuses, fmt(day))
  learnSession()
end

return {facts, ev}
