-- Pauses a Cloud number for every process, extending an existing pause but
-- never shortening it (two 130429 answers must not cut each other's brake).
--
-- KEYS[1] the number's pause: the Redis time it ends, in microseconds
-- ARGV[1] the pause length in milliseconds (at least 1)
--
-- Reply: how long the number stays paused from now, in microseconds.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local wanted = now + ms * 1000

local current = tonumber(redis.call('GET', KEYS[1]))
if current ~= nil and current >= wanted then
  return math.ceil(current - now)
end

redis.call('SET', KEYS[1], string.format('%.17g', wanted), 'PX', ms)
return ms * 1000
