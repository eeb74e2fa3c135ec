-- Read one quota without changing it: ARGV now ms, recoveryPpmPerSecond.
-- Returns {learned share in millionths, tokens in the window, requests in the window}.
local W = 61
local FULL = 1000000
local now, ppm = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.floor(now / 1000)
local key = KEYS[1]
local v = redis.call('HMGET', key, 'F', 'Ft')
local f = FULL
if v[1] then
  f = math.min(FULL, tonumber(v[1]) + math.floor(ppm * math.max(0, now - tonumber(v[2])) / 1000))
end
local t, r = 0, 0
for s = slot - W + 1, slot do
  local x = redis.call('HMGET', key, 't'..s, 'r'..s)
  t = t + tonumber(x[1] or 0)
  r = r + tonumber(x[2] or 0)
end
return {f, t, r}
