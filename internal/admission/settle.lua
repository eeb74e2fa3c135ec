-- Move a reservation to the actual usage: ARGV now ms, slot, class, token delta, request delta.
-- A slot already out of the window is left alone: its spend has aged out.
local W = 61
local slot, class, dt, dr = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
for _, key in ipairs(KEYS) do
  local h = tonumber(redis.call('HGET', key, 'h'))
  if h and slot > h - W and redis.call('HEXISTS', key, 't'..slot) == 1 then
    redis.call('HINCRBY', key, 'T', dt)
    redis.call('HINCRBY', key, 'R', dr)
    redis.call('HINCRBY', key, 't'..slot, dt)
    redis.call('HINCRBY', key, 'r'..slot, dr)
    if class == 0 then
      redis.call('HINCRBY', key, 'CT', dt)
      redis.call('HINCRBY', key, 'CR', dr)
      redis.call('HINCRBY', key, 'c'..slot, dt)
      redis.call('HINCRBY', key, 'q'..slot, dr)
    end
  end
end
return 1
