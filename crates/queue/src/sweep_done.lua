-- Forgets up to ARGV[2] finished tasks: their id in the done set, their
-- payload in the data hash and their meta hash. O(ARGV[2]), never the whole
-- set (apalis's vacuum.lua reads the whole data hash in one call).
-- KEYS[1] {q}:done  KEYS[2] {q}:data  ARGV[1] the meta key prefix {q}:meta
local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))
if #ids == 0 then
    return 0
end
redis.call('HDEL', KEYS[2], unpack(ids))
for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[1] .. ':' .. id)
end
return #ids
