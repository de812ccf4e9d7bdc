-- Forgets dead tasks for good: the id in the dead set, the payload, the meta
-- hash, and the idempotency key when it still names this task (so the same
-- job can be pushed again). Ids not in the dead set are left alone.
-- KEYS[1] {q}:dead  KEYS[2] {q}:data
-- ARGV[1] the meta key prefix {q}:meta  ARGV[2] the idempotency key prefix
-- {q}:idempotency  ARGV[3..] task ids (at most 1,000)
local n = 0
for i = 3, #ARGV do
    local id = ARGV[i]
    if redis.call('SREM', KEYS[1], id) == 1 then
        local meta = ARGV[1] .. ':' .. id
        local key = redis.call('HGET', meta, 'idempotency_key')
        if key and #key > 0 then
            local claim = ARGV[2] .. ':' .. key
            if redis.call('GET', claim) == id then
                redis.call('DEL', claim)
            end
        end
        redis.call('HDEL', KEYS[2], id)
        redis.call('DEL', meta)
        n = n + 1
    end
end
return n
