-- Forgets the connections of every instance whose heartbeat has expired.
-- KEYS[1] the instances that hold connections (set)
-- KEYS[2] the connection count of every online user (hash user -> count)
-- ARGV[1] the heartbeat key prefix, ARGV[2] the connections key prefix: an
-- instance's keys are the prefix followed by its id (same hash tag as KEYS).
-- Returns the users who went offline; as the script removes what it counted,
-- no other call returns them again.
local out = {}
for _, inst in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. inst) == 0 then
    local conns = ARGV[2] .. inst
    local flat = redis.call('HGETALL', conns)
    for i = 2, #flat, 2 do
      local n = redis.call('HINCRBY', KEYS[2], flat[i], -1)
      if n <= 0 then
        redis.call('HDEL', KEYS[2], flat[i])
        if n == 0 then table.insert(out, flat[i]) end
      end
    end
    redis.call('DEL', conns)
    redis.call('SREM', KEYS[1], inst)
  end
end
return out
