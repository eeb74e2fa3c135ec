-- Move a reservation to the actual usage: ARGV now ms, slot, token delta, request delta.
-- A slot already out of the window is left alone: its spend has aged out.
local W = 61
local slot, dt, dr = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  local h = tonumber(redis.call('HGET', key, 'h'))
  if h and slot > h - W and redis.call('HEXISTS', key, 't'..slot) == 1 then
    redis.call('HINCRBY', key, 'T', dt)
    redis.call('HINCRBY', key, 'R', dr)
    redis.call('HINCRBY', key, 't'..slot, dt)
    redis.call('HINCRBY', key, 'r'..slot, dr)
  end
end
return 1
