-- Records connections of one instance and counts them per user.
-- KEYS[1] the instance's connections (hash conn -> user)
-- KEYS[2] the connection count of every online user (hash user -> count)
-- KEYS[3] the instances whose connections are recorded (set)
-- KEYS[4] the instance's heartbeat
-- ARGV[1] the instance id, ARGV[2] the heartbeat TTL in ms,
-- ARGV[3], ARGV[4], ... pairs of connection id and user id.
-- Returns {lost, users...}: lost is 1 when the instance was not in the set
-- (Redis lost its data, or a reap removed the instance's connections; the
-- caller then records its other connections again), users are those who had
-- no connection before. A connection already recorded is not counted twice.
local lost = 0
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then
  lost = 1
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
end
local out = {lost}
for i = 3, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    if redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1) == 1 then
      table.insert(out, ARGV[i + 1])
    end
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
return out
