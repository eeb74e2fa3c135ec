-- A provider throttled a request these quotas had admitted: the provider's real limit is below
-- the configured one (the account's quota is shared outside the cluster). Lower each quota's
-- learned share multiplicatively, from the lower of the share and the fleet's usage in the window
-- (what the provider just refused to exceed), once per cooldown, never below a floor.
-- ARGV: now ms, decreasePercent (the share kept), cooldown ms, floor ppm, then per key:
-- tokensPerMinute, requestsPerMinute, recoveryPpmPerSecond.
-- Returns per key the share in millionths after the call.
local FULL = 1000000
local now, keep, cooldown, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i, key in ipairs(KEYS) do
  local b = 4 + (i - 1) * 3
  local lt, lr, ppmPerSecond = tonumber(ARGV[b+1]), tonumber(ARGV[b+2]), tonumber(ARGV[b+3])
  local v = redis.call('HMGET', key, 'F', 'Ft', 'Fd', 'T', 'R')
  local f = FULL
  if v[1] then
    f = math.min(FULL, tonumber(v[1]) + math.floor(ppmPerSecond * math.max(0, now - tonumber(v[2])) / 1000))
  end
  if not (v[3] and now - tonumber(v[3]) < cooldown) then
    local usedShare = FULL
    if lt > 0 and v[4] then
      usedShare = math.floor(tonumber(v[4]) * FULL / lt)
    elseif lr > 0 and v[5] then
      usedShare = math.floor(tonumber(v[5]) * FULL / lr)
    end
    f = math.max(floor, math.floor(math.min(f, usedShare) * keep / 100))
    redis.call('HSET', key, 'F', f, 'Ft', now, 'Fd', now)
    redis.call('PEXPIRE', key, 120000 + math.floor((FULL - f) * 1000 / math.max(1, ppmPerSecond)))
  end
  table.insert(out, f)
end
return out
