-- Forgets connections of one instance.
-- KEYS[1] the instance's connections (hash conn -> user)
-- KEYS[2] the connection count of every online user (hash user -> count)
-- ARGV connection ids.
-- Returns {offline, missing}: the users whose last connection this was, and
-- the connections that were not recorded (already forgotten, or lost by
-- Redis: the caller knows which), which change nothing here.
local offline, missing = {}, {}
for _, conn in ipairs(ARGV) do
  local user = redis.call('HGET', KEYS[1], conn)
  if user then
    redis.call('HDEL', KEYS[1], conn)
    local n = redis.call('HINCRBY', KEYS[2], user, -1)
    if n <= 0 then
      redis.call('HDEL', KEYS[2], user)
      if n == 0 then table.insert(offline, user) end
    end
  else
    table.insert(missing, conn)
  end
end
return {offline, missing}
