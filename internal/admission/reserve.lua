-- Reserve ARGV[3] tokens and one request in every quota of KEYS, or nothing.
-- ARGV: now ms, class (0 critical, 1 standard, 2 sheddable), tokens,
-- force (above 0: take that many requests and the tokens without checking, for spend a guard
-- admitted on its own while the store was away), epoch and seed tokens and requests (with force:
-- when a key's epoch is not the one given, the key was lost and made again since the guard last
-- saw it, and the seed, the guard's share of the fleet's spend it last saw, is added too),
-- then per key: tokensPerMinute, requestsPerMinute, shedPercent, hardPercent,
-- criticalReservePercent, recoveryPpmPerSecond (how fast a learned limit climbs back, in
-- millionths of the limit).
-- Returns {admitted, slot, refused key index (1-based), 1 when refused at the shed threshold,
-- then per key: learned share of the limits in millionths, tokens used in the window, epoch}.
local W = 61
local PACE = 10 -- seconds over which critical traffic's pace is taken
local FULL = 1000000
local now, class, n, force = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local epoch, seedT, seedR = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local P = 7
local reqs = 1
if force > 0 then reqs = force end
local slot = math.floor(now / 1000)

local function advance(key)
  local h = tonumber(redis.call('HGET', key, 'h'))
  if not h then
    redis.call('HSET', key, 'h', slot, 'T', 0, 'R', 0, 'CT', 0, 'CR', 0, 'e', tostring(now))
    return slot, true
  end
  if slot <= h then return h, false end
  for s = h - W + 1, math.min(h, slot - W) do
    local v = redis.call('HMGET', key, 't'..s, 'r'..s, 'c'..s, 'q'..s)
    if v[1] then
      -- 0 - x, not -x: Lua writes -0 as "-0", which HINCRBY refuses.
      redis.call('HINCRBY', key, 'T', 0 - tonumber(v[1]))
      redis.call('HINCRBY', key, 'R', 0 - tonumber(v[2] or 0))
      redis.call('HINCRBY', key, 'CT', 0 - tonumber(v[3] or 0))
      redis.call('HINCRBY', key, 'CR', 0 - tonumber(v[4] or 0))
      redis.call('HDEL', key, 't'..s, 'r'..s, 'c'..s, 'q'..s)
    end
  end
  redis.call('HSET', key, 'h', slot)
  return slot, false
end

-- share is the learned share of the configured limits: lowered by throttle.lua when the provider
-- throttles below them, climbing back linearly from the time it was lowered.
local function share(key, ppmPerSecond)
  local v = redis.call('HMGET', key, 'F', 'Ft')
  local f, ft = tonumber(v[1]), tonumber(v[2])
  if not f then return FULL end
  f = f + math.floor(ppmPerSecond * math.max(0, now - ft) / 1000)
  if f >= FULL then
    redis.call('HDEL', key, 'F', 'Ft', 'Fd')
    return FULL
  end
  return f
end

-- pace is critical traffic's spend in the last PACE seconds, scaled to a minute. Critical traffic
-- that has just begun (nothing older in the window) is scaled from the seconds it has run, at
-- least 2, so that a new critical stream is protected from its first seconds.
local function pace(key, h, CT, CR)
  local fields = {}
  for s = h - PACE + 1, h do
    table.insert(fields, 'c'..s)
    table.insert(fields, 'q'..s)
  end
  local v = redis.call('HMGET', key, unpack(fields))
  local t, r, first = 0, 0, nil
  for j = 1, #v, 2 do
    local ct = tonumber(v[j] or 0)
    if ct > 0 and not first then first = (j + 1) / 2 end
    t = t + ct
    r = r + tonumber(v[j + 1] or 0)
  end
  local span = PACE
  if first and t >= CT and r >= CR then span = math.max(2, PACE - first + 1) end
  return math.floor(t * 60 / span), math.floor(r * 60 / span)
end

-- fits checks one kind of limit (0 admitted, 1 refused at the shed threshold, 2 at the hard
-- limit). Critical requests pass up to the hard limit. The others must leave critical traffic
-- its demand for a minute, the larger of what it spent in the window and its pace of the last
-- seconds, plus the reserve share of the limit as its headroom.
local function fits(limit, u, crit, critPace, ask, shed, hard, res)
  if limit <= 0 then return 0 end
  if class == 0 then
    if u + ask > math.floor(limit * hard / 100) then return 2 end
    return 0
  end
  local demand = math.max(crit, critPace) + math.floor(limit * res / 100)
  local other = u - crit + ask + demand
  if class == 1 and other > math.floor(limit * hard / 100) then return 2 end
  if class == 2 and other > math.floor(limit * shed / 100) then return 1 end
  return 0
end

local slots, shares, used, epochs = {}, {}, {}, {}
local refused = nil
for i, key in ipairs(KEYS) do
  local created
  slots[i], created = advance(key)
  local b = P + (i - 1) * 6
  local f = share(key, tonumber(ARGV[b+6]))
  shares[i] = f
  local v = redis.call('HMGET', key, 'T', 'R', 'CT', 'CR', 'e')
  local T, R, CT, CR = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  epochs[i] = v[5] or '0'
  used[i] = T
  if force > 0 and epoch ~= '0' and epoch ~= epochs[i] then
    -- The key was lost (a store restarted empty): bring back the guard's share of the spend.
    redis.call('HINCRBY', key, 'T', seedT)
    redis.call('HINCRBY', key, 'R', seedR)
    redis.call('HINCRBY', key, 't'..slots[i], seedT)
    redis.call('HINCRBY', key, 'r'..slots[i], seedR)
    used[i] = used[i] + seedT
  end
  if not refused and force == 0 then
    local shed, hard, res = tonumber(ARGV[b+3]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
    local lt = math.floor(tonumber(ARGV[b+1]) * f / FULL)
    local lr = math.floor(tonumber(ARGV[b+2]) * f / FULL)
    local pt, pr = 0, 0
    if class ~= 0 then pt, pr = pace(key, slots[i], CT, CR) end
    local r = fits(lt, T, CT, pt, n, shed, hard, res)
    if r == 0 then r = fits(lr, R, CR, pr, 1, shed, hard, res) end
    if r ~= 0 then refused = {i, r == 1 and 1 or 0} end
  end
end

local out = {0, slot, 0, 0}
if refused then
  out[3], out[4] = refused[1], refused[2]
else
  out[1], out[2] = 1, slots[1]
  for i, key in ipairs(KEYS) do
    local s = slots[i]
    redis.call('HINCRBY', key, 'T', n)
    redis.call('HINCRBY', key, 'R', reqs)
    redis.call('HINCRBY', key, 't'..s, n)
    redis.call('HINCRBY', key, 'r'..s, reqs)
    if class == 0 then
      redis.call('HINCRBY', key, 'CT', n)
      redis.call('HINCRBY', key, 'CR', reqs)
      redis.call('HINCRBY', key, 'c'..s, n)
      redis.call('HINCRBY', key, 'q'..s, reqs)
    end
    used[i] = used[i] + n
  end
end
for i, key in ipairs(KEYS) do
  -- A key outlives its window by a minute, and its learned share by the time to climb back.
  redis.call('PEXPIRE', key, 120000 + math.floor((FULL - shares[i]) * 1000 / math.max(1, tonumber(ARGV[P + (i - 1) * 6 + 6]))))
  table.insert(out, shares[i])
  table.insert(out, used[i])
  table.insert(out, tonumber(epochs[i]))
end
return out
