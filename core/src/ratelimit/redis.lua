-- GCRA cells for tenantguard (the same steps as ratelimit/gcra.rs and
-- 008_rate_limits.sql), atomic per call, on the Redis server's clock (microseconds).
-- KEYS: 1 to 4 cell names. ARGV[1]: take | fail | succeed; then 7 numbers per cell:
-- emission µs, tolerance µs, cost, back-off after (0 = none), base µs, max µs, forget µs.
-- Returns { refused µs or -1, lock-out started µs or -1, failure count }.
-- Cells are hashes (tat, fails, blocked, fail_at) that expire once idle.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local op = ARGV[1]
local n = #KEYS
local refused = -1
local locked = -1
local fails = 0

local function num(x) return string.format('%.0f', x) end

local function load(k)
  local v = redis.call('HMGET', k, 'tat', 'fails', 'blocked', 'fail_at')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
end

-- Writes a cell and keeps it until it is idle (and never for less than it had left).
local function save(k, tat, f, blocked, fail_at, forget)
  local idle = math.max(tat, blocked)
  if f > 0 and forget > 0 then idle = math.max(idle, fail_at + forget) end
  local ms = math.ceil((idle - now) / 1000)
  local left = redis.call('PTTL', k)
  if left > ms then ms = left end
  if ms <= 0 then
    redis.call('DEL', k)
    return
  end
  redis.call('HSET', k, 'tat', num(tat), 'fails', num(f), 'blocked', num(blocked), 'fail_at', num(fail_at))
  redis.call('PEXPIRE', k, ms + 1)
end

local new_tat = {}
for i = 1, n do
  local o = 1 + (i - 1) * 7
  local em, tol, cost = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local after, base, max, forget = tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6]), tonumber(ARGV[o + 7])
  local tat, f, blocked, fail_at = load(KEYS[i])
  if op == 'take' then
    if blocked > now then
      refused = math.max(refused, blocked - now)
    else
      local nt = math.max(tat, now) + em * cost
      if nt > now + tol then
        refused = math.max(refused, nt - (now + tol))
      end
      new_tat[i] = nt
    end
  elseif op == 'fail' then
    if after > 0 and f > 0 and now - fail_at > forget then f = 0 end
    tat = math.min(math.max(tat, now) + em * cost, now + tol + em)
    if after > 0 then
      f = f + 1
      fail_at = now
      if f >= after then
        local lock = math.min(base * 2 ^ math.min(f - after, 40), max)
        blocked = math.max(blocked, now + lock)
        locked = lock
      end
      fails = f
    end
    save(KEYS[i], tat, f, blocked, fail_at, forget)
  else
    if f > 0 then save(KEYS[i], tat, 0, blocked, fail_at, 0) end
  end
end

if op == 'take' and refused < 0 then
  for i = 1, n do
    local o = 1 + (i - 1) * 7
    if tonumber(ARGV[o + 3]) > 0 then
      local _, f, blocked, fail_at = load(KEYS[i])
      save(KEYS[i], new_tat[i], f, blocked, fail_at, 0)
    end
  end
end
return { refused, locked, fails }
