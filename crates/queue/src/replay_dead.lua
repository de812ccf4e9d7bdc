-- Moves dead tasks back to the active list (reference A5): only ids still in
-- the dead set, each with its meta reset as a fresh push would leave it
-- (status Pending, attempts 0, no result, no lease), then raises the signal.
-- The whole call is atomic: a task is either still dead or queued.
-- KEYS[1] {q}:dead  KEYS[2] {q}:active  KEYS[3] {q}:signal
-- ARGV[1] the meta key prefix {q}:meta  ARGV[2..] task ids (at most 1,000)
local n = 0
for i = 2, #ARGV do
    local id = ARGV[i]
    if redis.call('SREM', KEYS[1], id) == 1 then
        local meta = ARGV[1] .. ':' .. id
        redis.call('HSET', meta, 'status', 'Pending', 'attempts', 0)
        redis.call('HDEL', meta, 'result', 'done_at', 'locked_at', 'locked_by')
        redis.call('RPUSH', KEYS[2], id)
        n = n + 1
    end
end
if n > 0 then
    redis.call('DEL', KEYS[3])
    redis.call('LPUSH', KEYS[3], 1)
end
return n
