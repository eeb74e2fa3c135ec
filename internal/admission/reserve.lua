-- Reserve ARGV[3] tokens and one request in every quota of KEYS, or nothing.
-- ARGV: now ms, class (0 critical, 1 standard, 2 sheddable), tokens, then per key:
-- tokensPerMinute, requestsPerMinute, shedPercent, hardPercent, criticalReservePercent.
-- Returns {admitted, slot, refused key index (1-based), 1 when refused at the shed threshold}.
local W = 61
local now, class, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slot = math.floor(now / 1000)

local function advance(key)
  local h = tonumber(redis.call('HGET', key, 'h'))
  if not h then
    redis.call('HSET', key, 'h', slot, 'T', 0, 'R', 0, 'CT', 0, 'CR', 0)
    return slot
  end
  if slot <= h then return h end
  local from = h - W + 1
  local to = math.min(h, slot - W)
  for s = from, to do
    local v = redis.call('HMGET', key, 't'..s, 'r'..s, 'c'..s, 'q'..s)
    if v[1] then
      redis.call('HINCRBY', key, 'T', -tonumber(v[1]))
      redis.call('HINCRBY', key, 'R', -tonumber(v[2] or 0))
      redis.call('HINCRBY', key, 'CT', -tonumber(v[3] or 0))
      redis.call('HINCRBY', key, 'CR', -tonumber(v[4] or 0))
      redis.call('HDEL', key, 't'..s, 'r'..s, 'c'..s, 'q'..s)
    end
  end
  redis.call('HSET', key, 'h', slot)
  redis.call('PEXPIRE', key, 120000)
  return slot
end

local slots = {}
for i, key in ipairs(KEYS) do
  slots[i] = advance(key)
  local b = 3 + (i - 1) * 5
  local lt, lr = tonumber(ARGV[b+1]), tonumber(ARGV[b+2])
  local shed, hard, res = tonumber(ARGV[b+3]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
  local v = redis.call('HMGET', key, 'T', 'R', 'CT', 'CR')
  local T, R, CT, CR = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  local function fits(limit, used, critUsed, ask)
    if limit <= 0 then return 0 end
    local pending = math.max(0, math.floor(limit * res / 100) - critUsed)
    if class == 0 then
      if used + ask > math.floor(limit * hard / 100) then return 2 end
    elseif class == 1 then
      if used + ask + pending > math.floor(limit * hard / 100) then return 2 end
    else
      if used + ask + pending > math.floor(limit * shed / 100) then return 1 end
    end
    return 0
  end
  local f = fits(lt, T, CT, n)
  if f == 0 then f = fits(lr, R, CR, 1) end
  if f ~= 0 then return {0, slot, i, f == 1 and 1 or 0} end
end
for i, key in ipairs(KEYS) do
  local s = slots[i]
  redis.call('HINCRBY', key, 'T', n)
  redis.call('HINCRBY', key, 'R', 1)
  redis.call('HINCRBY', key, 't'..s, n)
  redis.call('HINCRBY', key, 'r'..s, 1)
  if class == 0 then
    redis.call('HINCRBY', key, 'CT', n)
    redis.call('HINCRBY', key, 'CR', 1)
    redis.call('HINCRBY', key, 'c'..s, n)
    redis.call('HINCRBY', key, 'q'..s, 1)
  end
  redis.call('PEXPIRE', key, 120000)
end
return {1, slots[1], 0, 0}
