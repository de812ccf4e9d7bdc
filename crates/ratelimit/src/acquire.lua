-- Takes one token from a Cloud number's GCRA and one from a campaign's GCRA,
-- both or neither, unless the number is paused. Times are microseconds of
-- Redis's own clock, so every process agrees on them.
--
-- KEYS[1] the number's theoretical arrival time (TAT)
-- KEYS[2] the campaign's TAT
-- KEYS[3] the number's pause: the Redis time it ends
-- ARGV[1] the number's emission interval (1e6 / rate)
-- ARGV[2] the number's capacity: burst x interval, how far its TAT may run ahead of now
-- ARGV[3] the campaign's emission interval
-- ARGV[4] the campaign's capacity
--
-- Reply: {1, 0, 0} when allowed (both TATs advanced), or {0, wait_us, cause}
-- when not (nothing written): wait_us is the longest of the waits, and cause
-- says whose it is (1 the number, 2 the campaign, 3 the pause).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- A missing or stale TAT means the bucket is full: start from now.
local function advanced_tat(key, interval)
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then
    tat = now
  end
  return tat + interval
end

local wait, cause = 0, 0

local paused_until = tonumber(redis.call('GET', KEYS[3]))
if paused_until ~= nil and paused_until > now then
  wait, cause = paused_until - now, 3
end

local number_tat = advanced_tat(KEYS[1], tonumber(ARGV[1]))
local number_wait = number_tat - tonumber(ARGV[2]) - now
if number_wait > wait then
  wait, cause = number_wait, 1
end

local campaign_tat = advanced_tat(KEYS[2], tonumber(ARGV[3]))
local campaign_wait = campaign_tat - tonumber(ARGV[4]) - now
if campaign_wait > wait then
  wait, cause = campaign_wait, 2
end

if wait > 0 then
  return {0, math.ceil(wait), cause}
end

-- A key expires when its TAT is reached: from then on it is a full bucket,
-- which is what a missing key means. '%.17g' keeps every microsecond digit
-- (never an exponent at today's magnitudes) and the fraction of a
-- non-integer interval.
redis.call('SET', KEYS[1], string.format('%.17g', number_tat), 'PX', math.ceil((number_tat - now) / 1000))
redis.call('SET', KEYS[2], string.format('%.17g', campaign_tat), 'PX', math.ceil((campaign_tat - now) / 1000))
return {1, 0, 0}
