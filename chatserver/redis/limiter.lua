-- The generic cell rate algorithm on one key, on Redis's clock.
-- KEYS[1] the key: when its allowance is whole again, in microseconds since
--         the epoch; it expires then, and a missing key is a whole allowance
-- ARGV[1] the period of the rate, in microseconds
-- ARGV[2] the events the rate allows per period
-- ARGV[3] 1: count one event if it is allowed; 0: only tell
-- Returns 0 when an event is allowed (and, with ARGV[3] = 1, counted), or
-- how many microseconds until one would be.
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local period = tonumber(ARGV[1])
local interval = math.max(1, math.floor(period / tonumber(ARGV[2])))
local full = tonumber(redis.call('GET', KEYS[1])) or now
if full < now then
  full = now
end
local after = full + interval
local over = after - now - period
if over > 0 then
  return over
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000))
end
return 0
