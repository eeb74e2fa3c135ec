-- Reserve ARGV[3] tokens and one request in every quota of KEYS, or nothing.
-- ARGV: now ms, class (0 critical, 1 standard, 2 sheddable), tokens, force (above 0:
-- take that many requests and the tokens without checking, for spend a guard admitted on its own
-- while the store was away), then per key:
-- tokensPerMinute, requestsPerMinute, shedPercent, hardPercent, criticalReservePercent,
-- recoveryPpmPerSecond (how fast a learned limit climbs back, in millionths of the limit).
-- Returns {admitted, slot, refused key index (1-based), 1 when refused at the shed threshold,
-- then per key: learned share of the limits in millionths, tokens used in the window}.
local W = 61
local FULL = 1000000
local now, class, n, force = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local reqs = 1
if force > 0 then reqs = force end
local slot = math.floor(now / 1000)

local function advance(key)
  local h = tonumber(redis.call('HGET', key, 'h'))
  if not h then
    redis.call('HSET', key, 'h', slot, 'T', 0, 'R', 0)
    return slot
  end
  if slot <= h then return h end
  local from = h - W + 1
  local to = math.min(h, slot - W)
  for s = from, to do
    local v = redis.call('HMGET', key, 't'..s, 'r'..s)
    if v[1] then
      redis.call('HINCRBY', key, 'T', -tonumber(v[1]))
      redis.call('HINCRBY', key, 'R', -tonumber(v[2] or 0))
      redis.call('HDEL', key, 't'..s, 'r'..s)
    end
  end
  redis.call('HSET', key, 'h', slot)
  return slot
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

local slots, shares, used = {}, {}, {}
local refused = nil
for i, key in ipairs(KEYS) do
  slots[i] = advance(key)
  local b = 4 + (i - 1) * 6
  local f = share(key, tonumber(ARGV[b+6]))
  shares[i] = f
  local lt = math.floor(tonumber(ARGV[b+1]) * f / FULL)
  local lr = math.floor(tonumber(ARGV[b+2]) * f / FULL)
  local shed, hard, res = tonumber(ARGV[b+3]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
  local v = redis.call('HMGET', key, 'T', 'R')
  local T, R = tonumber(v[1]), tonumber(v[2])
  used[i] = T
  -- Critical requests pass up to the hard limit; the others leave the critical reserve free.
  local function fits(limit, configured, u, ask)
    if configured <= 0 then return 0 end
    local reserve = math.floor(limit * res / 100)
    if class == 0 then
      if u + ask > math.floor(limit * hard / 100) then return 2 end
    elseif class == 1 then
      if u + ask + reserve > math.floor(limit * hard / 100) then return 2 end
    else
      if u + ask + reserve > math.floor(limit * shed / 100) then return 1 end
    end
    return 0
  end
  if not refused and force == 0 then
    local f = fits(lt, tonumber(ARGV[b+1]), T, n)
    if f == 0 then f = fits(lr, tonumber(ARGV[b+2]), R, 1) end
    if f ~= 0 then refused = {i, f == 1 and 1 or 0} end
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
    used[i] = used[i] + n
  end
end
for i, key in ipairs(KEYS) do
  -- A key outlives its window by a minute, and its learned share by the time to climb back.
  redis.call('PEXPIRE', key, 120000 + math.floor((FULL - shares[i]) * 1000 / math.max(1, tonumber(ARGV[4 + (i - 1) * 6 + 6]))))
  table.insert(out, shares[i])
  table.insert(out, used[i])
end
return out
