-- Refreshes an instance's heartbeat and tells whether Redis still holds its
-- connections.
-- KEYS[1] the instance's heartbeat
-- KEYS[2] the instances whose connections are recorded (set)
-- ARGV[1] the instance id, ARGV[2] the heartbeat TTL in ms.
-- Returns 1 when the instance is in the set, 0 when it is not: Redis lost its
-- connections (it restarted empty, or a reap removed them while the instance
-- was away) and the caller records them again. The heartbeat key cannot tell:
-- a heartbeat sent before the reap and delivered after it sets it again.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('SISMEMBER', KEYS[2], ARGV[1])
