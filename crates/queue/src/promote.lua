-- Moves up to ARGV[2] due task ids from the scheduled set to the active list,
-- oldest first, and raises the signal, like fetch_next.lua's step 1 but with
-- a LIMIT, so the unpack below never sees more than a slice.
-- KEYS[1] {q}:scheduled  KEYS[2] {q}:active  KEYS[3] {q}:signal
-- ARGV[1] now (unix seconds, the clock apalis scores with)  ARGV[2] slice
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then
    return 0
end
redis.call('RPUSH', KEYS[2], unpack(ids))
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('DEL', KEYS[3])
redis.call('LPUSH', KEYS[3], 1)
return #ids
